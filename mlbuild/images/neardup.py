"""Exact Hamming near-duplicate search of training hashes against evaluation hashes.

Multi-index hashing as a hash join, never an N x M scan. The 64 bits are split into m
contiguous blocks, and block i gets a probe radius r_i >= -1 with sum(r_i + 1) = K + 1.
Generalized pigeonhole: if every block differed in more than r_i bits, the distance would be
at least sum(r_i + 1) = K + 1, so every pair within K agrees to within r_i bits on some block.
With m = K + 1 blocks and all r_i = 0 this is the classic "one block matches exactly"; the
planner also considers fewer, longer blocks with small radii (probing every key within r_i of
the query's block), because at K = 6 seven 9-bit blocks make ~N*M/73 candidate pairs, while
three ~21-bit blocks with radii (2, 1, 1) make ~N*M/12,000 (docs/dedup.md has the figures).

Real hashes are far from uniform: their low-frequency bits are correlated, so a block of
contiguous row-major bits (all low frequencies) has block keys that collide ~40x more often
than uniform ones on real photographs. Before the search both sides are therefore permuted
(`spread_bits`) so that each block takes every m-th bit in zigzag (frequency) order; the
permutation is the same on both sides, so Hamming distances are unchanged.

Per probed block the larger side is bucketed by block key (a counting-sort table of
2**bits slots), the smaller side's keys, XORed with every flip mask of weight <= r_i, are
looked up, each bucket range is expanded into candidate pairs, and candidates are verified
with a 64-bit popcount. A pair is kept only in the first block where it is within radius,
so every pair within K is reported exactly once.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlbuild._util.arrays import range_positions
from mlbuild.images.hash_keys import CHECK_DISTANCE, KEYS, MIRRORED, TRANSFORMS

MAX_DISTANCE = 32          # beyond this a "near duplicate" means nothing for 64-bit hashes
DEFAULT_MAX_DISTANCE = 6    # chosen from benchmarks/bench_neardup_quality.py, see docs/dedup.md
DEFAULT_EXTRA_DISTANCE = 4  # K against mirrored and cropped evaluation keys (docs/dedup.md)
DEFAULT_CHECK_DISTANCE = CHECK_DISTANCE
MAX_BLOCK_BITS = 24        # a bucket table of 2**24 slots (128 MiB of int64) at most
CANDIDATE_BUDGET = 1 << 22  # candidate pairs verified per numpy step (bounds memory)
PROBE_BUDGET = 1 << 22      # probe keys per numpy step
# Relative per-item costs of the planner's model (seconds are irrelevant, ratios matter):
# bucketing one index hash, looking up one probe key, verifying one candidate pair.
COST_INDEX, COST_PROBE, COST_CANDIDATE = 8.0, 3.0, 1.0

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def popcount_table(x: np.ndarray) -> np.ndarray:
    """Bits set per uint64 by byte table lookup (numpy < 2.0 has no bitwise_count)."""
    return _POPCOUNT8[x.view(np.uint8).reshape(-1, 8)].sum(axis=1, dtype=np.uint8)


popcount = getattr(np, "bitwise_count", popcount_table)


@dataclass(frozen=True)
class Block:
    """A run of `bits` hash bits starting at bit `shift`, probed within Hamming `radius`."""

    shift: int
    bits: int
    radius: int  # -1: the block is not probed

    @property
    def mask(self) -> np.uint64:
        """The block's bits in place within the 64-bit hash."""
        return np.uint64(((1 << self.bits) - 1) << self.shift)

    def keys(self, hashes: np.ndarray) -> np.ndarray:
        """The block of every hash as a uint32 key."""
        return ((hashes & self.mask) >> np.uint64(self.shift)).astype(np.uint32)

    def probes(self) -> int:
        """How many keys lie within the radius of one key."""
        return sum(comb(self.bits, r) for r in range(self.radius + 1))


def layout(n_blocks: int, max_distance: int) -> tuple[Block, ...]:
    """Blocks as even as possible, radii summing to K + 1 - n_blocks, larger radii on larger blocks."""
    size, extra = divmod(64, n_blocks)
    quota, more = divmod(max_distance + 1, n_blocks)
    blocks, shift = [], 64
    for i in range(n_blocks):
        bits = size + (i < extra)
        shift -= bits
        blocks.append(Block(shift, bits, quota + (i < more) - 1))
    return tuple(blocks)


def estimated_cost(blocks: tuple[Block, ...], n_index: int, n_query: int) -> float:
    """The planner's cost model, assuming uniformly distributed block keys."""
    cost = 0.0
    for b in blocks:
        if b.radius >= 0:
            probes = b.probes()
            cost += (n_index * COST_INDEX + n_query * probes * COST_PROBE
                     + n_index * n_query * probes / 2.0 ** b.bits * COST_CANDIDATE)
    return cost


def plan_blocks(n_index: int, n_query: int, max_distance: int) -> tuple[Block, ...]:
    """The layout with the least estimated work, over 3..max(3, K + 1) blocks."""
    counts = range(-(-64 // MAX_BLOCK_BITS), max(3, max_distance + 1) + 1)
    return min((layout(m, max_distance) for m in counts),
               key=lambda blocks: estimated_cost(blocks, n_index, n_query))


def flip_masks(bits: int, radius: int) -> np.ndarray:
    """Every key of `bits` bits with at most `radius` bits set, as uint32."""
    masks = [sum(1 << i for i in ones) for r in range(radius + 1)
             for ones in combinations(range(bits), r)]
    return np.array(masks, np.uint32)


def expand_ranges(starts: np.ndarray, counts: np.ndarray, owners: np.ndarray,
                  budget: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (position, owner) for every position of every range, at most 2*budget per step."""
    pieces = -(-counts // budget)
    if (pieces > 1).any():  # split ranges longer than the budget (heavily repeated keys)
        rep = np.repeat(np.arange(len(counts)), pieces)
        offset = (np.arange(len(rep)) - np.repeat(np.cumsum(pieces) - pieces, pieces)) * budget
        starts, counts, owners = starts[rep] + offset, np.minimum(counts[rep] - offset, budget), owners[rep]
    ends = np.cumsum(counts)
    cuts = np.flatnonzero(np.diff((ends - counts) // budget)) + 1
    for lo, hi in zip([0, *cuts], [*cuts, len(counts)]):
        yield range_positions(starts[lo:hi], counts[lo:hi]), np.repeat(owners[lo:hi], counts[lo:hi])


def zigzag_bits() -> list[int]:
    """Bit positions (LSB = 0) of the row-major 8x8 grid in JPEG zigzag (frequency) order."""
    cells = sorted(((u, v) for u in range(8) for v in range(8)),
                   key=lambda c: (c[0] + c[1], c[0] if (c[0] + c[1]) % 2 else c[1]))
    return [63 - (u * 8 + v) for u, v in cells]


def spread_bits(hashes: np.ndarray, n_blocks: int) -> np.ndarray:
    """Permute bits so that contiguous block b of `layout(n_blocks, ...)` holds zigzag bits
    b, b + m, b + 2m, ...: every block mixes low and high frequencies."""
    zigzag = zigzag_bits()
    sources = [zigzag[i] for b in range(n_blocks) for i in range(b, 64, n_blocks)]
    target = np.zeros(64, np.uint64)
    target[sources] = np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)
    # One 256-entry table per byte: the permuted image of every value of that byte.
    values = (np.arange(256, dtype=np.uint64)[:, None] >> np.arange(8, dtype=np.uint64)) & np.uint64(1)
    tables = [np.bitwise_or.reduce(values * target[8 * k:8 * k + 8], axis=1) for k in range(8)]
    octets = hashes.astype("<u8").view(np.uint8).reshape(-1, 8)
    out = np.zeros(len(hashes), np.uint64)
    for k, table in enumerate(tables):
        out |= table[octets[:, k]]
    return out


class BlockIndex:
    """The index side bucketed by one block's key: a counting-sort table over 2**bits keys."""

    def __init__(self, hashes: np.ndarray, block: Block) -> None:
        keys = block.keys(hashes)
        self.order = np.argsort(keys)
        self.sorted_hashes = hashes[self.order]
        self.counts = np.bincount(keys, minlength=1 << block.bits)
        self.starts = np.cumsum(self.counts) - self.counts
        self.block = block

    def candidates(self, query: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (sorted-index position, query row) for every index hash whose block key is
        within the block's radius of the query's, in bounded steps."""
        flips = flip_masks(self.block.bits, self.block.radius)
        qkeys = self.block.keys(query)
        step = max(1, PROBE_BUDGET // len(flips))
        for lo in range(0, len(query), step):
            probe = (qkeys[lo:lo + step, None] ^ flips[None, :]).ravel()
            rows = np.repeat(np.arange(lo, lo + len(probe) // len(flips)), len(flips))
            counts = self.counts[probe]
            hit = np.flatnonzero(counts)
            yield from expand_ranges(self.starts[probe[hit]], counts[hit], rows[hit], CANDIDATE_BUDGET)


def _block_pairs(index: np.ndarray, query: np.ndarray, blocks: tuple[Block, ...], at: int,
                 max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs within K found through block `at` and through no earlier probed block."""
    bucketed = BlockIndex(index, blocks[at])
    earlier = [b for b in blocks[:at] if b.radius >= 0]
    found = []
    for pos, rows in bucketed.candidates(query):
        x = bucketed.sorted_hashes[pos] ^ query[rows]
        dist = popcount(x)
        keep = np.flatnonzero(dist <= max_distance)
        for b in earlier:
            keep = keep[popcount(x[keep] & b.mask) > b.radius]
        found.append((bucketed.order[pos[keep]], rows[keep], dist[keep]))
    return _concat(found)


def _concat(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8)
    return tuple(np.concatenate(col) for col in zip(*parts))  # type: ignore[return-value]


def check_distance(max_distance: int) -> int:
    """Validate K: an int in [0, MAX_DISTANCE]."""
    if not 0 <= int(max_distance) <= MAX_DISTANCE:
        raise ValueError(f"max distance must be in 0..{MAX_DISTANCE}, got {max_distance}")
    return int(max_distance)


def hamming_pairs(train: np.ndarray, evals: np.ndarray, max_distance: int,
                  n_blocks: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (i, j) with popcount(train[i] ^ evals[j]) <= K, as (i, j, distance) arrays
    sorted by (i, j): int64, int64, uint8. `n_blocks` forces a layout instead of the planner's."""
    k = check_distance(max_distance)
    train, evals = np.asarray(train, np.uint64), np.asarray(evals, np.uint64)
    swap = len(evals) > len(train)  # bucket the larger side, probe with the smaller
    index, query = (evals, train) if swap else (train, evals)
    blocks = layout(n_blocks, k) if n_blocks else plan_blocks(len(index), len(query), k)
    index, query = spread_bits(index, len(blocks)), spread_bits(query, len(blocks))
    found = [_block_pairs(index, query, blocks, at, k)
             for at, b in enumerate(blocks) if b.radius >= 0 and len(query) and len(index)]
    idx, rows, dist = _concat(found)
    i, j = (rows, idx) if swap else (idx, rows)
    order = np.lexsort((j, i))
    return i[order], j[order], dist[order]


PAIRS = pa.schema([
    pa.field("image_id", pa.string(), nullable=False),       # training image
    pa.field("eval_image_id", pa.string(), nullable=False),  # evaluation image it nearly duplicates
    pa.field("eval_set", pa.string(), nullable=False),
    pa.field("distance", pa.int8(), nullable=False),         # Hamming distance of the two keys' hashes
    pa.field("hash", pa.uint64(), nullable=False),           # the training image's matching key
    pa.field("transform", pa.string(), nullable=False),      # keys that matched: plain, trimmed, mirrored, crop1...
])


@dataclass(frozen=True)
class Limits:
    """Which key pairs count: hashes within `plain` when the evaluation key shows the image as
    framed (plain or trimmed, against any training key), within `extra` when it is a variant
    (mirrored, centre crop), and check signatures within `check`."""

    plain: int = DEFAULT_MAX_DISTANCE
    extra: int = DEFAULT_EXTRA_DISTANCE
    check: int = DEFAULT_CHECK_DISTANCE

    def __post_init__(self) -> None:
        for value in (self.plain, self.extra):
            check_distance(value)
        if not 0 <= self.check <= 64:
            raise ValueError(f"check distance must be in 0..64, got {self.check}")


def plain_keys(table: pa.Table, column: str) -> pa.Table:
    """KEYS rows (plain transform, no check) of the rows of (image_id, <column>) whose hash is not null."""
    valid = pc.is_valid(table[column])
    hashes = table[column].filter(valid).combine_chunks().cast(pa.uint64())
    return pa.table({"image_id": table["image_id"].filter(valid).combine_chunks(),
                     "transform": pa.array(np.zeros(len(hashes), np.int8)),
                     "hash": hashes, "check": pa.array(np.zeros(len(hashes), np.uint64))}, schema=KEYS)


def transform_names(train_codes: np.ndarray, eval_codes: np.ndarray) -> pa.Array:
    """The name of each matched (training key, evaluation key) pair: its non-plain parts joined
    by "+" (trimmed on either side, mirrored, crop k), or "plain"."""
    names = {}
    for t, e in set(zip(train_codes.tolist(), eval_codes.tolist())):
        parts = [p for p in TRANSFORMS[e].split("+") if p != "plain"]
        if TRANSFORMS[t] == "trimmed" and "trimmed" not in parts:
            parts.insert(0, "trimmed")
        names[t, e] = "+".join(parts) or "plain"
    return pa.array([names[t, e] for t, e in zip(train_codes.tolist(), eval_codes.tolist())], pa.string())


def dedup_keys(train: pa.Table, evals: Mapping[str, pa.Table], limits: Limits) -> pa.Table:
    """Every (training image, evaluation image) pair with a matching pair of keys (KEYS tables),
    one row per image pair (its closest key pair; ties: the first transform), as a sorted PAIRS table."""
    eval_keys = pa.concat_tables([evals[name] for name in evals]) if evals else KEYS.empty_table()
    eval_set = np.repeat(np.arange(len(evals)), [evals[name].num_rows for name in evals]).astype(np.int64)
    t_hash, e_hash = (k["hash"].to_numpy() for k in (train, eval_keys))
    variant = eval_keys["transform"].to_numpy() >= MIRRORED
    found = []
    for limit, rows in ((limits.plain, np.flatnonzero(~variant)), (limits.extra, np.flatnonzero(variant))):
        i, j, dist = hamming_pairs(t_hash, e_hash[rows], limit)  # one search per limit: fewer candidates
        found.append((i, rows[j], dist))
    i, j, dist = _concat(found)
    t_code, e_code = train["transform"].to_numpy()[i], eval_keys["transform"].to_numpy()[j]
    keep = np.flatnonzero(popcount(train["check"].to_numpy()[i] ^ eval_keys["check"].to_numpy()[j]) <= limits.check)
    i, j, dist, t_code, e_code = i[keep], j[keep], dist[keep], t_code[keep], e_code[keep]
    table = pa.table({
        "image_id": train["image_id"].take(pa.array(i)),
        "eval_image_id": eval_keys["image_id"].take(pa.array(j)),
        "eval_set": pa.array(list(evals), pa.string()).take(pa.array(eval_set[j])),
        "distance": pa.array(dist.astype(np.int8)),
        "hash": pa.array(t_hash[i]),
        "transform": transform_names(t_code, e_code),
        "rank": pa.array(t_code.astype(np.int32) * 64 + e_code),
    })
    return closest(table).select(PAIRS.names).cast(PAIRS).sort_by([(n, "ascending") for n in PAIRS.names])


def closest(pairs: pa.Table) -> pa.Table:
    """The first row of every (image_id, eval_set, eval_image_id) by distance, then rank."""
    keys = ["image_id", "eval_set", "eval_image_id"]
    pairs = pairs.sort_by([(k, "ascending") for k in [*keys, "distance", "rank"]])
    if pairs.num_rows < 2:
        return pairs
    changed = np.zeros(pairs.num_rows - 1, bool)
    for k in keys:
        column = pairs[k].combine_chunks()
        changed |= pc.not_equal(column[1:], column[:-1]).to_numpy(zero_copy_only=False)
    return pairs.filter(pa.array(np.r_[True, changed]))


def dedup_pairs(train: pa.Table, evals: Mapping[str, pa.Table], max_distance: int,
                column: str = "phash") -> pa.Table:
    """Every (training image, evaluation image) pair within K of plain hashes (image_id, <column>),
    as a sorted PAIRS table."""
    k = check_distance(max_distance)
    return dedup_keys(plain_keys(train, column), {name: plain_keys(t, column) for name, t in evals.items()},
                      Limits(k, k, 64))
