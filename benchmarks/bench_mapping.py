"""Map the 19,994 Open Images V6 display names: mlbuild's NameMapper against an NLTK first-sense baseline.

Usage: python benchmarks/bench_mapping.py [--data ../shared/data] [--dict /usr/share/wordnet]
Each side runs in a fresh interpreter, so imports and loading WordNet count; times are CPU
seconds of that process (the machine is shared, wall time is noisy). The baseline is what a
quick script does: NLTK's reader, `synsets(name, "n")[0]` on the lower-cased name with
spaces as underscores (NLTK applies noun morphology), no qualifiers, hierarchy or head nouns.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

READ_NAMES = """
import csv
names = [r[1] for r in csv.reader(open({path!r}, encoding="utf-8"))][1:]
"""
MLBUILD = READ_NAMES + """
import time; t = time.process_time()
from mlbuild.classes.mapping import NameMapper
found = NameMapper().map_all(names)
print(time.process_time() - t, sum(m.mapped for m in found), len(found))
"""
NLTK = READ_NAMES + """
import re, time, tempfile, pathlib; t = time.process_time()
from mlbuild.classes.wordnet.export import _reader
wn = _reader(pathlib.Path({dict!r}), pathlib.Path(tempfile.mkdtemp()))
def first(name):
    key = re.sub(r"\\s*\\(.*\\)$", "", name).strip().lower().replace(" ", "_")
    found = wn.synsets(key, "n")
    return found[0] if found else None
mapped = sum(first(n) is not None for n in names)
print(time.process_time() - t, mapped, len(names))
"""


def run(code: str) -> tuple[float, int, int]:
    """(seconds, mapped, total) printed by a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    seconds, mapped, total = out.split()
    return float(seconds), int(mapped), int(total)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--dict", default="/usr/share/wordnet")
    args = parser.parse_args()
    path = f"{args.data}/openimages/oidv6-class-descriptions.csv"
    ours = run(MLBUILD.format(path=path))
    base = run(NLTK.format(path=path, dict=args.dict))
    print(json.dumps({"names": ours[2], "mlbuild_cpu_s": round(ours[0], 2), "mlbuild_mapped": ours[1],
                      "nltk_first_sense_cpu_s": round(base[0], 2), "nltk_mapped": base[1],
                      "speedup": round(base[0] / ours[0], 2)}))


if __name__ == "__main__":
    main()
