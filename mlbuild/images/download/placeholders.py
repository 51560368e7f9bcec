"""Known "photo unavailable" placeholder images, detected by final URL, sha256 or dimensions.

Hosts answer a missing photo with 200 and a stock image instead of 404 (Flickr redirects
to `photo_unavailable.gif/png`, Imgur to `removed.png`). Those images would decode fine
and poison a dataset with thousands of identical pictures, so they get their own status.
The rules ship in `placeholders.tsv` (format in its header); users add their own file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from mlbuild.errors import InputError

KINDS = ("url", "sha256", "image")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Placeholders:
    """The placeholder rules: URL regexes, exact sha256 digests and (host, size, format) rules."""

    urls: tuple[re.Pattern, ...] = ()
    sha256: frozenset[str] = frozenset()
    images: tuple[tuple[re.Pattern, int, int, frozenset[str]], ...] = field(default=())

    def url_matches(self, url: str) -> bool:
        """True if the final URL is a known placeholder location."""
        return any(p.search(url) for p in self.urls)

    def sha256_matches(self, digest: str) -> bool:
        """True if the body is byte-identical to a known placeholder."""
        return digest in self.sha256

    def image_matches(self, host: str, width: int, height: int, fmt: str | None) -> bool:
        """True if a decoded image from `host` has a known placeholder's size and format."""
        return any(w == width and h == height and (not fmts or fmt in fmts) and p.search(host)
                   for p, w, h, fmts in self.images)

    def merged(self, other: Placeholders) -> Placeholders:
        """The union of two rule sets."""
        return Placeholders(self.urls + other.urls, self.sha256 | other.sha256,
                            self.images + other.images)


def load_placeholders(path: Path | None = None) -> Placeholders:
    """The shipped rules, plus the rules of `path` (same TSV format) when given."""
    shipped = resources.files("mlbuild.images.download").joinpath("placeholders.tsv")
    rules = _parse(shipped.read_text(encoding="utf-8"), "mlbuild/images/placeholders.tsv")
    if path is not None:
        rules = rules.merged(_parse(Path(path).read_text(encoding="utf-8"), path))
    return rules


def _parse(text: str, path: object) -> Placeholders:
    urls, digests, images = [], set(), []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) < 5 or cells[0] not in KINDS:
            raise InputError(path, f"expected 'kind<TAB>value<TAB>width<TAB>height<TAB>formats', "
                                   f"kind one of {KINDS}", line=number, field="kind")
        kind, value = cells[0], cells[1]
        try:
            if kind == "url":
                urls.append(re.compile(value))
            elif kind == "image":
                formats = frozenset(f for f in cells[4].split(",") if f not in ("", "-"))
                images.append((re.compile(value), int(cells[2]), int(cells[3]), formats))
            elif _SHA256.fullmatch(value):
                digests.add(value)
            else:
                raise ValueError("not 64 lowercase hex digits")
        except (re.error, ValueError) as err:
            raise InputError(path, str(err), line=number, field=kind) from err
    return Placeholders(tuple(urls), frozenset(digests), tuple(images))
