"""The fast resampler (cykooz.resizer) against Pillow's own, the slow reference it replaces."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from mlbuild.images.download import resample as resample_module
from mlbuild.images.download.resample import resample

pytestmark = pytest.mark.skipif(resample_module.Resizer is None, reason="no cykooz.resizer wheel here")


def photo(size: tuple[int, int], seed: int, mode: str = "RGB") -> Image.Image:
    """Gradients, hard edges and noise: every kind of detail a resampler can round differently."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x // 7 + y // 5) % 2 * 255], -1)
    pixels = np.clip(pixels + rng.normal(0, 25, pixels.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").convert(mode)


CASES = [  # (source size, target size, box or None for the whole image)
    ((500, 375), (341, 256), None),          # a typical photo to a 256 shorter side
    ((1024, 768), (341, 256), None),
    ((4000, 3000), (256, 192), None),        # a wide box filter
    ((640, 480), (256, 256), (80, 0, 560, 480)),       # center_crop
    ((301, 199), (128, 128), (51, 0, 250, 199)),       # fractional scale, odd sizes
    ((333, 1000), (256, 256), (0, 333.5, 333, 666.5)),  # fractional crop box
    ((2000, 40), (1000, 20), None),          # extreme aspect ratio
]


@pytest.mark.parametrize(("source", "size", "box"), CASES)
def test_downscaling_rgb_is_within_one_level_of_pillow(source, size, box):
    img = photo(source, seed=sum(source))
    box = box or (0, 0, *source)
    fast = np.asarray(resample(img, size, box), dtype=np.int16)
    slow = np.asarray(resample(img, size, box, use_pillow=True), dtype=np.int16)
    assert fast.shape == slow.shape == (size[1], size[0], 3)
    assert np.abs(fast - slow).max() <= 1


@pytest.mark.parametrize("mode", ["RGBA", "L"])
def test_other_modes_and_upscaling_are_pillows(mode):
    img = photo((300, 200), seed=3, mode=mode)
    for size in ((150, 100), (450, 300)):
        assert resample(img, size, (0, 0, 300, 200)).tobytes() == \
            img.resize(size, Image.Resampling.BOX if size[0] < 300 else Image.Resampling.BICUBIC).tobytes()
    rgb = photo((100, 80), seed=4)
    assert resample(rgb, (250, 200), (0, 0, 100, 80)).tobytes() == \
        rgb.resize((250, 200), Image.Resampling.BICUBIC).tobytes()


def test_threads_resample_concurrently_with_the_same_results():
    images = [photo((640, 480), seed) for seed in range(8)]
    expected = [resample(img, (341, 256), (0, 0, 640, 480)).tobytes() for img in images]
    got: dict[int, list[bytes]] = {}

    def work(k: int) -> None:
        got[k] = [resample(img, (341, 256), (0, 0, 640, 480)).tobytes() for img in images * 3]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(out == expected * 3 for out in got.values())
