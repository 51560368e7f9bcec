"""Image stages: download, perceptual hashing, near-duplicate search against evaluation sets."""
