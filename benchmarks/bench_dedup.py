"""Near-duplicate search at scale: 10M training x 200k evaluation pHashes at K = 6, the planner
against classic (K + 1 exact blocks) multi-index hashing, and imagededup's brute force.

Hashes are synthetic but shaped like real pHashes: each is the median threshold of an 8x8
block of DCT coefficients whose amplitude falls as 1/frequency (natural-image statistics), so
the DC bit is always set and nearly every hash has 32 ones (distances are even); mixing in one
of 1,000 shared "scene" templates clusters them, so that block keys collide and unrelated pairs
come close at least as often as for pHashes of real photograph crops (section 1 compares). The
training set also has near-duplicate families (5% of rows copy another row with
0-4 bits flipped) and one placeholder hash repeated 20,000 times (Flickr's "photo unavailable"
image is that common in URL-list datasets); 2,200 evaluation hashes are planted at distance
0..10 from training hashes. The 10M x 200k search runs in a fresh subprocess so that its peak
RSS is the search's own.

Section 2b runs what the build runs with its default search keys: every evaluation image
contributes EVAL_KEYS keys (plain, mirrored and the centre crops; trimmed ones are rare), every
training image one (plus a trimmed key for TRIMMED_SHARE of them), as KEYS tables with string
ids and check signatures, through `dedup_keys` (search at K, per-key limits, check
verification, one row per image pair).

    .venv/bin/python benchmarks/bench_dedup.py            # everything
    .venv/bin/python benchmarks/bench_dedup.py --skip-imagededup
    .venv/bin/python benchmarks/bench_dedup.py --only-keys   # section 2b alone
    .venv/bin/python benchmarks/bench_dedup.py --only-keys --extra-eval-keys 2   # 2b, 2 more keys per eval image
    .venv/bin/python benchmarks/bench_dedup.py --within-train 20000000   # section 5 alone, N images

Section 5 groups N training hashes by near duplicates among themselves (`[dedup] within_train`,
`near_duplicate_roots` at its default K, no check signatures: the worst case for links), N
shaped as section 2's training set (families, a placeholder repeated 20,000 times).
"""
from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pyarrow as pa
from photos import DATA

from mlbuild.images.hash_keys import CROPS, KEYS, MIRRORED, PLAIN, TRIMMED
from mlbuild.images.neardup import Limits, dedup_keys, hamming_pairs, layout, plan_blocks, popcount, spread_bits
from mlbuild.images.phash import hash_images, pack_bits

K = 6
N_TRAIN, N_EVAL = 10_000_000, 200_000
EVAL_KEYS = 2 + len(CROPS)   # plain, mirrored, crops (per evaluation image)
TRIMMED_SHARE = 0.01         # training images with a letterbox or pillarbox: one more key each
TEMPLATES, TEMPLATE_WEIGHT = 1000, 0.8  # tuned so that section 1's figures are at or above real ones


def synthetic_phashes(n: int, rng: np.random.Generator, chunk: int = 1 << 20) -> np.ndarray:
    """pHash-like hashes: the median threshold of 8x8 DCT coefficients with 1/f amplitudes,
    each a mix (weights 0.8 / 0.6) of one of 1,000 "scene" templates and its own noise. The
    templates come from a fixed seed: training and evaluation sets share one world of scenes."""
    u = np.arange(8)
    falloff = 1.0 / np.maximum(np.hypot(u[:, None], u[None, :]).ravel(), 1.0).astype(np.float32)
    templates = np.random.default_rng(0).standard_normal((TEMPLATES, 64), np.float32) * falloff
    out = []
    for lo in range(0, n, chunk):
        size = min(chunk, n - lo)
        coeffs = rng.standard_normal((size, 64), np.float32) * falloff
        coeffs = TEMPLATE_WEIGHT * templates[rng.integers(0, TEMPLATES, size)] \
            + np.sqrt(1 - TEMPLATE_WEIGHT ** 2) * coeffs
        coeffs[:, 0] = np.abs(coeffs[:, 0]) + 20  # the DC term: mean brightness, always large
        out.append(pack_bits(coeffs > np.median(coeffs, axis=1, keepdims=True)))
    return np.concatenate(out)


def flip_bits(h: np.ndarray, distance: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """h[i] with distance[i] distinct random bits flipped."""
    order = rng.random((len(h), 64)).argsort(axis=1)
    chosen = order < distance[:, None]
    return h ^ pack_bits(chosen)


def make_data(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training and evaluation hashes, and the planted (train row, eval row, distance) triples."""
    train = synthetic_phashes(N_TRAIN, rng)
    family = rng.choice(N_TRAIN, N_TRAIN // 20, replace=False)
    train[family] = flip_bits(train[rng.integers(0, N_TRAIN, len(family))], rng.integers(0, 5, len(family)), rng)
    train[rng.choice(N_TRAIN, 20_000, replace=False)] = train[0]
    evals = synthetic_phashes(N_EVAL, rng)
    rows = rng.choice(N_EVAL, 2_200, replace=False)
    sources, dist = rng.integers(1, N_TRAIN, len(rows)), np.repeat(np.arange(11), 200)
    evals[rows] = flip_bits(train[sources], dist, rng)
    return train, evals, np.stack([sources, rows, dist], axis=1)


def unrelated_pairs(n: int, source: np.ndarray | None, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, float]:
    """Mask of pairs (i < j) from different sources, and how many such pairs exist."""
    if source is None:
        return i < j, n * (n - 1) / 2
    return (i < j) & (source[i] != source[j]), (n * n - float((np.bincount(source) ** 2).sum())) / 2


def block_collision_ratio(hashes: np.ndarray, source: np.ndarray | None = None,
                          spread: bool = True) -> list[float]:
    """Per block of the 3-block layout (after spread_bits unless told): P(two unrelated
    hashes share the key) / the uniform 2**-bits."""
    def colliding(keys: np.ndarray) -> int:
        _, counts = np.unique(keys, return_counts=True)
        return int((counts * (counts - 1) // 2).sum())
    hashes, ratios = spread_bits(hashes, 3) if spread else hashes, []
    _, pairs = unrelated_pairs(len(hashes), source, np.empty(0, int), np.empty(0, int))
    for b in layout(3, K):
        keys = b.keys(hashes).astype(np.int64)
        same = colliding(keys + (source.astype(np.int64) << 32)) if source is not None else 0
        ratios.append(round((colliding(keys) - same) / pairs * 2 ** b.bits, 1))
    return ratios


def close_pair_rate(hashes: np.ndarray, source: np.ndarray | None, k: int) -> float:
    """Fraction of unrelated pairs within distance k."""
    i, j, _ = hamming_pairs(hashes, hashes, k)
    mask, pairs = unrelated_pairs(len(hashes), source, i, j)
    return mask.sum() / pairs


def realism(rng: np.random.Generator) -> None:
    """Section 1: synthetic hashes against pHashes of real photograph crops (pairs of crops of
    the same photograph, which may overlap, are left out)."""
    from bench_neardup_quality import random_crops
    crops, source = random_crops()
    real = hash_images(crops)
    synth = synthetic_phashes(len(real), rng)
    print(f"## 1. Synthetic vs real pHashes ({len(real):,} crops of {source.max() + 1} photos)\n")
    print("| hashes | P(bit=1), DC excluded | weight 32 | block-key collisions / uniform (3-block plan) "
          "| unrelated pairs within 6 | within 12 |")
    print("|---|---|---|---|---|---|")
    for name, h, src in (("real crops", real, source), ("synthetic", synth, None),
                         ("uniform random", rng.integers(0, 2 ** 64, len(real), dtype=np.uint64), None)):
        bits = np.unpackbits(h.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)[:, 1:].mean(axis=0)
        print(f"| {name} | {bits.min():.2f}-{bits.max():.2f} | {np.mean(popcount(h) == 32):.1%} | "
              f"{block_collision_ratio(h, src)} | {close_pair_rate(h, src, 6):.1e} | "
              f"{close_pair_rate(h, src, 12):.1e} |")
    print(f"\nreal crops with contiguous row-major blocks (no spread_bits): block-key collisions / uniform "
          f"{block_collision_ratio(real, source, spread=False)}\n")


def search_subprocess(train_file: Path, eval_file: Path, mode: str = "--search", extra: int = 0) -> dict:
    """Run the big search in a fresh interpreter; it prints one JSON line."""
    out = subprocess.run([sys.executable, __file__, mode, str(train_file), str(eval_file),
                          "--extra-eval-keys", str(extra)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def search_only(train_file: Path, eval_file: Path) -> None:
    """(In the subprocess) load, search, report wall, CPU and peak RSS as JSON."""
    train, evals = np.load(train_file), np.load(eval_file)
    start, cpu = time.perf_counter(), time.process_time()
    i, j, d = hamming_pairs(train, evals, K)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    np.save(train_file.with_name("found.npy"), np.stack([i, j, d.astype(np.int64)], axis=1))
    # VmHWM, not ru_maxrss: the latter carries the parent's RSS over fork + exec
    status = Path("/proc/self/status").read_text()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 2 ** 20
    print(json.dumps({"wall": wall, "cpu": cpu, "pairs": len(i), "peak_gib": peak}))


def keys_table(prefix: str, image: np.ndarray, codes: np.ndarray, hashes: np.ndarray,
               checks: np.ndarray) -> pa.Table:
    """A KEYS table whose image ids are prefix + the zero-padded image number."""
    ids = pa.array(np.char.add(prefix, np.char.zfill(image.astype("U8"), 8)).astype(object), pa.string())
    return pa.table({"image_id": ids, "transform": pa.array(codes.astype(np.int8)), "hash": pa.array(hashes),
                     "check": pa.array(checks)}, schema=KEYS)


def search_keys_only(train_file: Path, eval_file: Path, extra: int = 0) -> None:
    """(In the subprocess) the build's search with default keys (and `extra` more variant keys
    per evaluation image, searched like the crop keys): KEYS tables in, pairs out."""
    rng = np.random.default_rng(3)
    train, evals = np.load(train_file), np.load(eval_file)
    n_keys = EVAL_KEYS + extra
    n_train, n_eval = len(train), len(evals) // n_keys
    trimmed = rng.choice(n_train, int(n_train * TRIMMED_SHARE), replace=False)
    t_image = np.concatenate([np.arange(n_train), trimmed])
    t_codes = np.r_[np.full(n_train, PLAIN), np.full(len(trimmed), TRIMMED)]
    t_hash = np.concatenate([train, synthetic_phashes(len(trimmed), rng)])
    t_check = rng.integers(0, 2 ** 64, len(t_image), dtype=np.uint64)
    e_image = np.repeat(np.arange(n_eval), n_keys)
    e_codes = np.tile(np.r_[PLAIN, MIRRORED, np.arange(len(CROPS)) + 4, np.arange(extra) % len(CROPS) + 4], n_eval)
    e_check = rng.integers(0, 2 ** 64, len(evals), dtype=np.uint64)
    e_check[::n_keys] = t_check[np.arange(0, n_eval) % n_train]  # the planted pairs' checks agree
    train_keys = keys_table("t", t_image, t_codes, t_hash, t_check)
    eval_keys = keys_table("e", e_image, e_codes, evals, e_check)
    del train, evals, t_hash, t_check
    start, cpu = time.perf_counter(), time.process_time()
    pairs = dedup_keys(train_keys, {"eval": eval_keys}, Limits())
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    status = Path("/proc/self/status").read_text()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 2 ** 20
    print(json.dumps({"wall": wall, "cpu": cpu, "pairs": pairs.num_rows, "peak_gib": peak,
                      "train_keys": train_keys.num_rows, "eval_keys": eval_keys.num_rows}))


def with_keys(rng: np.random.Generator, n_train: int = N_TRAIN, n_eval: int = N_EVAL, extra: int = 0) -> None:
    """Section 2b: the build's default search keys (plus `extra` variant keys per evaluation
    image) at scale, against plain keys in the same run."""
    folder = DATA / "dedup"
    folder.mkdir(parents=True, exist_ok=True)
    n_keys = EVAL_KEYS + extra
    train = synthetic_phashes(n_train, rng)
    evals = synthetic_phashes(n_eval * n_keys, rng)
    evals[::n_keys][:2_000] = flip_bits(train[:2_000], rng.integers(0, K + 1, 2_000), rng)
    np.save(folder / "keys_train.npy", train)
    np.save(folder / "keys_eval.npy", evals)
    np.save(folder / "plain_eval.npy", evals[::n_keys])
    del train, evals
    print(f"## 2b. {n_train:,} x {n_eval:,} with search keys ({n_keys} per evaluation image, "
          f"{TRIMMED_SHARE:.0%} trimmed training keys), `dedup_keys` with default limits\n")
    plain = search_subprocess(folder / "keys_train.npy", folder / "plain_eval.npy")
    keys = search_subprocess(folder / "keys_train.npy", folder / "keys_eval.npy", "--search-keys", extra)
    print(f"plain hashes only (hamming_pairs): wall {plain['wall']:.1f} s, CPU {plain['cpu']:.1f} s, "
          f"peak RSS {plain['peak_gib']:.2f} GiB")
    print(f"search keys ({keys['train_keys']:,} x {keys['eval_keys']:,} keys, dedup_keys): wall "
          f"{keys['wall']:.1f} s, CPU {keys['cpu']:.1f} s, peak RSS {keys['peak_gib']:.2f} GiB, "
          f"{keys['pairs']:,} image pairs; {keys['cpu'] / plain['cpu']:.1f}x the plain search's CPU\n")


def within_train_only(train_file: Path) -> None:
    """(In the subprocess) near-duplicate groups of the training hashes, with time and peak RSS."""
    from mlbuild.config import DedupConfig
    from mlbuild.images.train_groups import near_duplicate_roots
    train = np.load(train_file)
    start, cpu = time.perf_counter(), time.process_time()
    roots = near_duplicate_roots(train, DedupConfig().within_train_distance)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    status = Path("/proc/self/status").read_text()
    peak = int(status.split("VmHWM:")[1].split()[0]) / 2 ** 20
    grouped = int((roots != np.arange(len(roots))).sum())
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_gib": peak, "dropped": grouped,
                      "groups": int(len(np.unique(roots[roots != np.arange(len(roots))])))}))


def within_train(rng: np.random.Generator, n: int) -> None:
    """Section 5: near-duplicate groups within n training hashes."""
    from mlbuild.config import DedupConfig
    folder = DATA / "dedup"
    folder.mkdir(parents=True, exist_ok=True)
    train = synthetic_phashes(n, rng)
    family = rng.choice(n, n // 20, replace=False)
    train[family] = flip_bits(train[rng.integers(0, n, len(family))], rng.integers(0, 5, len(family)), rng)
    train[rng.choice(n, min(20_000, n // 10), replace=False)] = train[0]
    np.save(folder / "within.npy", train)
    del train
    out = subprocess.run([sys.executable, __file__, "--within-search", str(folder / "within.npy")],
                         check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"## 5. Near-duplicate groups within {n:,} training hashes (K={DedupConfig().within_train_distance})\n")
    print(f"wall {result['wall']:.1f} s, CPU {result['cpu']:.1f} s, peak RSS {result['peak_gib']:.2f} GiB; "
          f"{result['dropped']:,} images folded into {result['groups']:,} groups\n")


def at_scale(rng: np.random.Generator) -> None:
    """Section 2: 10M x 200k at K = 6, checked against planted pairs and a brute-force sample."""
    folder = DATA / "dedup"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, evals, planted = make_data(rng)
    np.save(folder / "train.npy", train)
    np.save(folder / "eval.npy", evals)
    print(f"## 2. {N_TRAIN:,} x {N_EVAL:,} at K={K} (data made in {time.perf_counter() - start:.0f} s)\n")
    print(f"plan: {[(b.bits, b.radius) for b in plan_blocks(N_TRAIN, N_EVAL, K)]} (bits, probe radius)")
    result = search_subprocess(folder / "train.npy", folder / "eval.npy")
    found = np.load(folder / "found.npy")
    print(f"search: wall {result['wall']:.1f} s, CPU {result['cpu']:.1f} s (one core: numpy is "
          f"single-threaded here), peak RSS {result['peak_gib']:.2f} GiB, {result['pairs']:,} pairs")
    hit = {(int(a), int(b)) for a, b, _ in found}
    near = planted[:, 2] <= K
    recovered = sum((int(s), int(r)) in hit for s, r, _ in planted[near])
    print(f"planted pairs within K found: {recovered} of {near.sum()}; planted beyond K found: "
          f"{sum((int(s), int(r)) in hit for s, r, _ in planted[~near])}")
    sample = rng.choice(N_EVAL, 100, replace=False)
    brute = set()
    for lo in range(0, N_TRAIN, 1 << 20):
        i, j = np.nonzero(popcount(train[lo:lo + (1 << 20), None] ^ evals[None, sample]) <= K)
        brute |= {(int(a) + lo, int(sample[b])) for a, b in zip(i, j)}
    mine = {(int(a), int(b)) for a, b, _ in found if int(b) in set(sample.tolist())}
    print(f"brute-force check of 100 random evaluation hashes against all training hashes: "
          f"{'identical' if brute == mine else 'DIFFERENT'} ({len(brute)} pairs)\n")


def planner_vs_classic(rng: np.random.Generator) -> None:
    """Section 3: the planned layout against m = K + 1 exact-match blocks (CPU time, so that
    other load on the machine does not count)."""
    train, evals = synthetic_phashes(1_000_000, rng), synthetic_phashes(20_000, rng)
    print("## 3. Planner vs classic multi-index hashing (1,000,000 x 20,000, K=6)\n")
    print("| layout (bits, radius) | CPU s | pairs |")
    print("|---|---|---|")
    results = []
    for n_blocks in (None, K + 1):
        start = time.process_time()
        found = hamming_pairs(train, evals, K, n_blocks=n_blocks)
        cpu = time.process_time() - start
        blocks = layout(n_blocks, K) if n_blocks else plan_blocks(len(train), len(evals), K)
        print(f"| {[(b.bits, b.radius) for b in blocks]} | {cpu:.2f} | {len(found[0]):,} |")
        results.append(found)
    assert all((a == b).all() for a, b in zip(*results))
    print()


def imagededup_phash() -> type:
    """imagededup's PHash class. Its `methods` and `utils` package __init__ files import the
    CNN code (torch, torchvision, matplotlib), so those two packages are registered bare and
    only the hashing and brute-force search modules run: imagededup's own code, unchanged."""
    import imagededup
    for sub in ("methods", "utils"):
        package = types.ModuleType(f"imagededup.{sub}")
        package.__path__ = [str(Path(imagededup.__file__).parent / sub)]
        sys.modules.setdefault(f"imagededup.{sub}", package)
    return importlib.import_module("imagededup.methods.hashing").PHash


def against_imagededup(rng: np.random.Generator) -> None:
    """Section 4: imagededup's find_duplicates brute force (all pairs within one set) vs ours."""
    phash = imagededup_phash()(verbose=False)
    print("## 4. imagededup `find_duplicates` brute force vs mlbuild (self-join, K=6, 2 workers for imagededup)\n")
    print("| n | imagededup search_method | imagededup s | mlbuild s | speed-up | same pairs |")
    print("|---|---|---|---|---|---|")
    for n, method in ((1_000, "brute_force"), (20_000, "brute_force_cython")):
        h = synthetic_phashes(n, rng)
        h[n // 2:n // 2 + 50] = flip_bits(h[:50], rng.integers(0, K + 1, 50), rng)
        encodings = {f"{i:06d}.jpg": f"{int(x):016x}" for i, x in enumerate(h)}
        start = time.perf_counter()
        theirs = phash.find_duplicates(encoding_map=encodings, max_distance_threshold=K,
                                       search_method=method, num_dist_workers=2)
        t_theirs = time.perf_counter() - start
        start = time.perf_counter()
        i, j, _ = hamming_pairs(h, h, K)
        t_mine = time.perf_counter() - start
        same = {(a, b) for a, v in theirs.items() for b in v} == \
            {(f"{a:06d}.jpg", f"{b:06d}.jpg") for a, b in zip(i.tolist(), j.tolist()) if a != b}
        print(f"| {n:,} | {method} | {t_theirs:.2f} | {t_mine:.4f} | {t_theirs / t_mine:,.0f}x | {same} |")
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--search", nargs=2, type=Path, metavar=("TRAIN", "EVAL"), help=argparse.SUPPRESS)
    parser.add_argument("--search-keys", nargs=2, type=Path, metavar=("TRAIN", "EVAL"), help=argparse.SUPPRESS)
    parser.add_argument("--within-search", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--within-train", type=int, metavar="N", help="section 5 alone, on N training hashes")
    parser.add_argument("--skip-imagededup", action="store_true")
    parser.add_argument("--only-keys", action="store_true", help="section 2b only")
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 10M x 200k for section 2b")
    parser.add_argument("--extra-eval-keys", type=int, default=0, metavar="N",
                        help="section 2b with N more variant keys per evaluation image (a candidate key's cost)")
    args = parser.parse_args()
    if args.search:
        search_only(*args.search)
        return 0
    if args.search_keys:
        search_keys_only(*args.search_keys, args.extra_eval_keys)
        return 0
    if args.within_search:
        within_train_only(args.within_search)
        return 0
    rng = np.random.default_rng(7)
    if args.within_train:
        within_train(rng, args.within_train)
        return 0
    if args.only_keys:
        with_keys(rng, int(N_TRAIN * args.scale), int(N_EVAL * args.scale), args.extra_eval_keys)
        return 0
    realism(rng)
    at_scale(rng)
    with_keys(rng)
    planner_vs_classic(rng)
    if not args.skip_imagededup:
        against_imagededup(rng)
    within_train(rng, 2 * N_TRAIN)
    return 0


if __name__ == "__main__":
    sys.exit(main())
