"""WordNet 3.0 nouns, offline: a shipped Parquet snapshot and its fast reader.

`mlbuild.classes.wordnet.load()` returns the shared `WordNet` graph; `export` rebuilds the
snapshot from a WordNet 3.0 database directory through NLTK's reader.
"""
from mlbuild.classes.wordnet.graph import RELATIONS, Synset, WordNet, load, wnid_of

__all__ = ["RELATIONS", "Synset", "WordNet", "load", "wnid_of"]
