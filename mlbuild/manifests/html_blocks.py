"""Small HTML building blocks of the report: tables, notes, inline PNG images (all escaped)."""
from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence

import numpy as np


def image(png: bytes, alt: str) -> str:
    """An <img> with the PNG inline."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """An HTML table; numbers right-aligned with thousands separators."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def note(text: str) -> str:
    """A paragraph of explanatory text."""
    return f'<p class="note">{html.escape(text)}</p>'


def _cell(v: object) -> str:
    if isinstance(v, bool) or v is None:
        return f"<td>{'' if v is None else v}</td>"
    if isinstance(v, int | np.integer):
        return f'<td class="n">{int(v):,}</td>'
    if isinstance(v, float | np.floating):
        return f'<td class="n">{v:,.3g}</td>' if abs(v) < 1000 else f'<td class="n">{v:,.0f}</td>'
    return f"<td>{html.escape(str(v))}</td>"
