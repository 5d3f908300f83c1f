"""An organiser's Markdown as the HTML part of a mail: text formatting, never markup.

Raw HTML in the text is escaped before rendering. Two ways around that are shut
too: the ``attr_list`` extension (part of ``extra``), which lets ``{: onclick=...}``
or ``{: style=...}`` put any attribute on an element, is not loaded; and a link or
image whose address is not http(s), mailto or relative (``javascript:``,
``data:``...) loses that address.
"""

from __future__ import annotations

import xml.etree.ElementTree as etree
from urllib.parse import urlsplit

import markdown as md  # type: ignore[import-untyped]
from markdown.treeprocessors import Treeprocessor  # type: ignore[import-untyped]

# "extra" without attr_list (arbitrary attributes) and md_in_html (raw HTML blocks).
EXTENSIONS = ["abbr", "def_list", "fenced_code", "footnotes", "tables", "sane_lists"]
SAFE_SCHEMES = frozenset({"", "http", "https", "mailto"})
URL_ATTRIBUTES = ("href", "src")


def safe_url(value: str) -> bool:
    # Browsers ignore whitespace and control characters inside a scheme ("java\tscript:").
    compact = "".join(c for c in value if ord(c) > 0x20)
    try:
        return urlsplit(compact).scheme.lower() in SAFE_SCHEMES
    except ValueError:
        return False


class _DropUnsafeUrls(Treeprocessor):  # type: ignore[misc]
    def run(self, root: etree.Element) -> None:
        for el in root.iter():
            for name in URL_ATTRIBUTES:
                value = el.get(name)
                if value is not None and not safe_url(value):
                    del el.attrib[name]


def render_html(text: str) -> str:
    renderer = md.Markdown(extensions=EXTENSIONS, output_format="html")
    renderer.treeprocessors.register(_DropUnsafeUrls(renderer), "drop_unsafe_urls", 0)
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f"<!doctype html><html><body>{renderer.convert(escaped)}</body></html>"
