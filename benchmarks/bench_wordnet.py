"""Load + first lookup of WordNet 3.0: mlbuild's snapshot against NLTK's reader, in fresh processes.

Usage: python benchmarks/bench_wordnet.py [--repeat 5] [--dict /usr/share/wordnet]
Each measurement is a new interpreter, so imports and first-use costs count.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

MLBUILD = """
import time; t = time.perf_counter()
from mlbuild.classes import wordnet
wn = wordnet.load(); wn.synset("n02084071"); t1 = time.perf_counter() - t
wn.lookup("Dogs"); t2 = time.perf_counter() - t
print(t1, t2)
"""
NLTK = """
import time, tempfile, pathlib; t = time.perf_counter()
from mlbuild.classes.wordnet.export import _reader
tmp = tempfile.mkdtemp()
wn = _reader(pathlib.Path({dict!r}), pathlib.Path(tmp)); wn.synset_from_pos_and_offset("n", 2084071)
t1 = time.perf_counter() - t
wn.synsets("dogs", "n"); print(t1, time.perf_counter() - t)
"""


def timed(code: str, repeat: int) -> tuple[float, float]:
    """Median (load + WNID lookup, + first lemma lookup) seconds over fresh interpreters."""
    runs = [tuple(map(float, subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                            text=True).stdout.split())) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dict", default="/usr/share/wordnet")
    args = parser.parse_args()
    ours = timed(MLBUILD, args.repeat)
    theirs = timed(NLTK.format(dict=args.dict), max(1, args.repeat // 2))
    print(f"mlbuild snapshot: load + WNID lookup {ours[0]:.3f} s, + first lemma lookup {ours[1]:.3f} s")
    print(f"NLTK reader     : load + WNID lookup {theirs[0]:.3f} s, + first lemma lookup {theirs[1]:.3f} s")
    print(f"speed-up (load + WNID lookup): {theirs[0] / ours[0]:.1f}x")


if __name__ == "__main__":
    main()
