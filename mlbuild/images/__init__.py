"""Stage 4, images: download, perceptual hashes, cross-source duplicates, decontamination."""
