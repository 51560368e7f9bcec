"""The report's figures: matplotlib (Agg, no display), each returned as PNG bytes."""
from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

SIZE = (7.0, 3.2)
DPI = 100


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _log_y(ax: plt.Axes, axis: str = "y") -> None:
    """Log-scale axis labelled with plain numbers (1, 10, 1,000) instead of powers."""
    getattr(ax, f"set_{axis}scale")("log")
    lo, hi = getattr(ax, f"get_{axis}lim")()
    subs = (1.0, 2.0, 5.0) if hi < 100 * max(lo, 1e-9) else (1.0,)  # short ranges: 1, 2, 5, 10, 20, 50
    getattr(ax, f"{axis}axis").set_major_locator(LogLocator(base=10, subs=subs))
    getattr(ax, f"{axis}axis").set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())


def images_per_class(counts: np.ndarray, split: str) -> bytes:
    """Classes sorted by images, log scale (the shape of ML-Images' published figure)."""
    fig, ax = plt.subplots(figsize=SIZE)
    ranked = np.sort(counts[counts > 0])[::-1]
    ax.plot(np.arange(1, len(ranked) + 1), ranked, lw=1.5)
    _log_y(ax)
    ax.set_xlabel(f"class rank ({len(ranked):,} classes with positives)")
    ax.set_ylabel(f"images ({split})")
    ax.grid(alpha=0.3)
    return _png(fig)


def histogram(series: dict[str, np.ndarray], xlabel: str, ylabel: str, log: bool = False) -> bytes:
    """Side-by-side bars of histograms given as counts per value 0..n."""
    fig, ax = plt.subplots(figsize=SIZE)
    width = 0.8 / max(len(series), 1)
    for i, (name, hist) in enumerate(series.items()):
        ax.bar(np.arange(len(hist)) + i * width - 0.4 + width / 2, hist, width=width, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log:
        _log_y(ax)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    ax.grid(alpha=0.3, axis="y")
    return _png(fig)


def stacked_bars(rows: Sequence[str], stacks: Sequence[str], values: np.ndarray, xlabel: str) -> bytes:
    """Horizontal bars per row, stacked by `stacks` (values: rows x stacks)."""
    fig, ax = plt.subplots(figsize=(SIZE[0], max(1.6, 0.45 * len(rows) + 1.0)))
    left = np.zeros(len(rows))
    for j, name in enumerate(stacks):
        ax.barh(list(rows), values[:, j], left=left, label=str(name))
        left += values[:, j]
    ax.set_xlabel(xlabel)
    ax.invert_yaxis()
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def threshold_curve(counts: np.ndarray, current: int) -> bytes:
    """Classes that reach each min_images threshold, with the build's threshold marked."""
    fig, ax = plt.subplots(figsize=SIZE)
    thresholds = np.unique(np.concatenate([[1], np.geomspace(1, max(counts.max(initial=1), 1), 60).astype(int)]))
    kept = [(counts >= t).sum() for t in thresholds]
    ax.step(thresholds, kept, where="post")
    _log_y(ax, "x")
    ax.axvline(max(current, 1), color="C3", ls="--", label=f"min_images = {current}")
    ax.set_xlabel("min_images (training positives)")
    ax.set_ylabel("classes kept")
    ax.legend()
    ax.grid(alpha=0.3)
    return _png(fig)
