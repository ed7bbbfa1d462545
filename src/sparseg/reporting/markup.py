"""Small HTML building blocks for the report; every piece of text passes through ``html.escape``."""

from __future__ import annotations

import base64
import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from markdown_it import MarkdownIt

# html=False: raw HTML in the markdown is shown as text, never injected into the page.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def text(value: Any) -> str:
    """Any value as escaped HTML text."""
    return escape(str(value))


def number(value: Any, digits: int = 3) -> str:
    """A figure with ``digits`` decimals; ``None``/``nan``/non-numbers read as ``n/a``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def note(message: str) -> str:
    """A grey paragraph saying why a section is empty (and what to run to fill it)."""
    return f'<p class="note">{text(message)}</p>'


class Raw(str):
    """HTML that was built (and escaped) here already, so :func:`table` keeps it as it is."""


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    caption: str | None = None,
    css_class: str = "",
) -> str:
    """A table of escaped cells; a cell that is a :class:`Raw` is inserted as it is."""
    head = "".join(f"<th>{text(header)}</th>" for header in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    caption_html = f"<caption>{text(caption)}</caption>" if caption else ""
    class_attr = f' class="{text(css_class)}"' if css_class else ""
    return (
        f"<table{class_attr}>{caption_html}<thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _cell(value: Any) -> str:
    return str(value) if isinstance(value, Raw) else text(value)


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image(png: bytes, alt: str, css_class: str = "") -> str:
    """An ``<img>`` with the PNG embedded, so the page needs no other file."""
    class_attr = f' class="{text(css_class)}"' if css_class else ""
    return f'<img{class_attr} src="{data_uri(png)}" alt="{text(alt)}">'


def markdown(source: str) -> str:
    """CommonMark with tables (GitHub style) as HTML; raw HTML in ``source`` is escaped."""
    return _MARKDOWN.render(source)


def details(summary: str, body_html: str) -> str:
    """A collapsed block the reader can open."""
    return f"<details><summary>{text(summary)}</summary>{body_html}</details>"
