"""HTML building blocks: escaping, numbers, tables, embedded images and markdown."""

from __future__ import annotations

import base64
import math

import pytest

from sparseg.reporting import markup
from sparseg.reporting.markup import Raw


@pytest.mark.parametrize(
    ("value", "digits", "shown"),
    [
        (0.12345, 3, "0.123"),
        (2, 2, "2.00"),
        (None, 3, "n/a"),
        (math.nan, 3, "n/a"),
        (math.inf, 3, "n/a"),
        ("0.5", 3, "n/a"),
        (True, 3, "n/a"),
    ],
)
def test_number(value, digits, shown) -> None:
    assert markup.number(value, digits) == shown


def test_table_escapes_cells_headers_and_caption_but_keeps_raw_html() -> None:
    html = markup.table(
        ("a<b", "c"),
        [("<script>x</script>", Raw("<code>ok</code>"))],
        caption="1 & 2",
        css_class="m",
    )
    assert html == (
        '<table class="m"><caption>1 &amp; 2</caption><thead><tr><th>a&lt;b</th><th>c</th></tr>'
        "</thead><tbody><tr><td>&lt;script&gt;x&lt;/script&gt;</td><td><code>ok</code></td></tr>"
        "</tbody></table>"
    )


def test_note_and_details_escape_text() -> None:
    assert markup.note('run "x" <now>') == '<p class="note">run &quot;x&quot; &lt;now&gt;</p>'
    assert markup.details("a<b", "<pre>y</pre>") == (
        "<details><summary>a&lt;b</summary><pre>y</pre></details>"
    )


def test_image_embeds_the_png_bytes() -> None:
    html = markup.image(b"\x89PNG-bytes", 'case "1"', "overlay")
    prefix = '<img class="overlay" src="data:image/png;base64,'
    assert html.startswith(prefix) and html.endswith('" alt="case &quot;1&quot;">')
    encoded = html[len(prefix) : html.index('" alt=')]
    assert base64.b64decode(encoded) == b"\x89PNG-bytes"


def test_markdown_renders_tables_and_escapes_raw_html() -> None:
    source = (
        "## Stages\n\n| stage | Dice |\n|---|---:|\n| basic | 0.48 |\n"
        "| <script>x</script> | 0.5 |\n"
    )
    html = markup.markdown(source)
    assert "<h2>Stages</h2>" in html
    assert "<th>stage</th>" in html and '<th style="text-align:right">Dice</th>' in html
    assert "<td>basic</td>" in html and '<td style="text-align:right">0.48</td>' in html
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_markdown_drops_javascript_links() -> None:
    assert "href" not in markup.markdown("[x](javascript:alert(1))")
    assert '<a href="https://example.org">x</a>' in markup.markdown("[x](https://example.org)")
