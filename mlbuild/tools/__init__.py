"""Maintainers' regeneration scripts: shipped manifests, the Open Images -> WordNet table."""
