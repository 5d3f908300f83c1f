"""The HTML part of a Markdown mail carries formatting only: no markup, attributes or
script addresses an organiser could slip past the escaping of raw HTML."""

from __future__ import annotations

import pytest

from web.mail_markdown import render_html, safe_url


@pytest.mark.parametrize(
    ("text", "forbidden"),
    [
        ("<script>alert(1)</script>", "<script"),
        ('Hello\n{: onmouseover="alert(1)" }', "<p onmouseover"),
        ('Read me\n{: style="position:fixed;top:0" }', "<p style"),
        ("[click](javascript:alert(1))", 'href="javascript'),
        ("[click](JaVaScRiPt:alert(1))", 'href="JaVaScRiPt'),
        ("[click][x]\n\n[x]: javascript:alert(1)", 'href="javascript'),
        ("![pic](data:image/svg+xml;base64,PHN2Zz4=)", 'src="data:'),
        ("[x](vbscript:msgbox(1))", 'href="vbscript'),
    ],
)
def test_no_markup_attributes_or_script_addresses(text: str, forbidden: str) -> None:
    html = render_html(text)
    assert forbidden not in html, html


def test_formatting_and_ordinary_links_stay() -> None:
    html = render_html(
        "Read **chapter 3** and [the notes](https://example.org/notes?a=1&b=2), "
        "[mail us](mailto:team@example.org) or [the room](/events/3).\n\n"
        "| day | room |\n|---|---|\n| Mon | 4 |\n\n* one\n* two\n"
    )
    assert "<strong>chapter 3</strong>" in html
    assert 'href="https://example.org/notes?a=1&amp;b=2"' in html
    assert 'href="mailto:team@example.org"' in html and 'href="/events/3"' in html
    assert "<table>" in html and "<li>one</li>" in html


def test_safe_url_ignores_hidden_whitespace_in_the_scheme() -> None:
    assert not safe_url("java\tscript:alert(1)")
    assert not safe_url(" \x01javascript:alert(1)")
    assert safe_url("https://example.org") and safe_url("#top") and safe_url("page.html")
