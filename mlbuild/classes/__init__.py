"""Stage 2, classes: WordNet 3.0, name mapping, the class vocabulary and its hierarchy."""
