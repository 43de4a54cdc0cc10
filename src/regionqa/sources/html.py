"""HTML files: the readable text of a local page, the main text of a page fetched from the web.

Pages fetched from the web are kept under `web/` in the corpus and read with trafilatura,
which drops navigation and other boilerplate; local HTML files keep all their text. Every page
keeps the title, author, date and URL trafilatura finds in it; a page not in UTF-8 is decoded
by its <meta charset>, found as the HTML parser of lxml (libxml2) finds it.
"""

from __future__ import annotations

import re
from pathlib import Path

from .names import WEB_FOLDER, file_part

HTML_SUFFIXES = {".html", ".htm"}

# Elements that start a new line of text; everything else (b, a, span, ...) flows inline.
BLOCK_TAGS = frozenset(
    """address article aside blockquote body br dd details div dl dt fieldset figcaption figure footer form h1 h2 h3 h4
    h5 h6 header hr html li main nav ol p pre section summary table td th tr ul""".split()
)


def html_to_text(html: str) -> str:
    """The readable text of an HTML page: scripts, styles and markup dropped, blocks on their own lines.

    Inline markup ("The <b>Alat</b> port") and line breaks inside a paragraph do not cut a sentence.
    """
    if too_deep(html):
        return _flat_html_text(html)
    # The lexbor backend: selectolax 1.0 removed the old `selectolax.parser` (Modest) module.
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, noscript, template, head"):
        node.decompose()
    root = tree.body or tree.root
    if root is None:
        return ""
    parts: list[str] = []
    stack = [(root, False)]  # iterative: deeply nested pages cannot exhaust the recursion limit
    while stack:
        node, closing = stack.pop()
        if closing:
            parts.append("\n")
        elif node.is_text_node:
            parts.append(re.sub(r"\s+", " ", node.text_content or ""))  # a newline in a paragraph is a space
        elif node.is_element_node:
            if node.tag in BLOCK_TAGS:
                parts.append("\n")
                stack.append((node, True))
            stack.extend((child, False) for child in reversed(list(node.iter(include_text=True))))
    lines = [" ".join(line.split()) for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line)


# An HTML5 parser checks the stack of open elements at every tag, so its time grows with the
# square of the nesting depth: a 1 MB page nested 100,000 levels deep took 18 s, 3 MB did not end.
# Real pages nest a few dozen levels; past MAX_HTML_DEPTH the text is taken without a tree.
MAX_HTML_DEPTH = 1_000
# No "<" inside a tag: with [^>] an unclosed "<" would scan to the end of the page, once per "<".
_TAG_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)[^<>]*?(/?)>")
# Elements that never nest: void ones, and those whose end tag is implied by the next sibling.
_FLAT_TAGS = frozenset(
    """area base br col embed hr img input link meta param source track wbr keygen
    p li td th tr dt dd option optgroup rb rt rp thead tbody tfoot colgroup caption html head body""".split()
)
_SKIPPED_OPENING = re.compile(r"<(script|style|noscript|template|head)\b", re.IGNORECASE)
_BLOCK_TAG = re.compile(r"</?(?:" + "|".join(sorted(BLOCK_TAGS)) + r")\b[^<>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>")


def too_deep(html: str, limit: int = MAX_HTML_DEPTH) -> bool:
    """Whether the elements of a page nest deeper than `limit` (estimated from its tags, in linear time)."""
    depth = 0
    for match in _TAG_TOKEN.finditer(html):
        closing, tag, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if tag in _FLAT_TAGS or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > limit:
                return True
    return False


def _without_skipped_elements(html: str) -> str:
    """The page without its scripts, styles and head, in one pass (an unclosed one runs to the end)."""
    kept: list[str] = []
    position = 0
    while (opening := _SKIPPED_OPENING.search(html, position)) is not None:
        kept.append(html[position : opening.start()])
        closing = re.compile(f"</{opening.group(1)}", re.IGNORECASE).search(html, opening.end())
        if closing is None:
            return " ".join(kept)
        position = html.find(">", closing.end())
        position = len(html) if position < 0 else position + 1
        kept.append(" ")
    kept.append(html[position:])
    return "".join(kept)


def _flat_html_text(html: str) -> str:
    """The text of a page without building its tree: scripts and styles dropped, block tags as line ends."""
    from html import unescape

    text = _ANY_TAG.sub("", _BLOCK_TAG.sub("\n", _without_skipped_elements(html)))
    lines = [" ".join(line.split()) for line in unescape(text).split("\n")]
    return "\n".join(line for line in lines if line)


def web_page_to_text(html: str) -> str:
    """The main text of a web page, without navigation, headers, footers and other boilerplate.

    trafilatura finds the content; a page where it finds none falls back to all of the page's
    readable text, so that nothing the page says is lost.
    """
    if too_deep(html):
        return _flat_html_text(html)
    import trafilatura

    text = trafilatura.extract(
        html, output_format="txt", include_comments=False, include_tables=True, favor_recall=True, with_metadata=False
    )
    if not text or not text.strip():
        return html_to_text(html)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return "\n".join(line for line in lines if line)


# The HTML standard has a browser look for <meta charset> in the first 1024 bytes; pages that put a
# long <script> or comment first are common, so a little more is read.
CHARSET_PRESCAN_BYTES = 4096


def declared_charset(raw: bytes) -> str | None:
    """The encoding a page declares in <meta charset> or <meta http-equiv="Content-Type">, else None."""
    import lxml.html
    from lxml.etree import ParserError

    head = raw[:CHARSET_PRESCAN_BYTES]
    try:
        encoding = lxml.html.document_fromstring(head).getroottree().docinfo.encoding
    except (ParserError, ValueError):
        return None
    # libxml2 says UTF-8 when the page declares nothing (or a name it does not know): nothing to go by.
    return None if not encoding or encoding.upper() == "UTF-8" else encoding


def page_metadata(html: str) -> dict[str, str]:
    """The title, author, publication date and URL a page gives (trafilatura's metadata: <title>,
    Open Graph and Dublin Core tags, JSON-LD, the canonical link), keys as in `Source.meta`."""
    if too_deep(html):
        return {}
    from trafilatura import extract_metadata

    found = extract_metadata(html)
    if found is None:
        return {}
    values = {"title": found.title, "author": found.author, "date": found.date, "url": found.url}
    return {key: " ".join(str(value).split()) for key, value in values.items() if value}


def is_web_page(name: str) -> bool:
    """A page fetched from a URL (kept under web/ in the corpus), as opposed to a local HTML file."""
    return name.startswith(f"{WEB_FOLDER}/") and Path(file_part(name)).suffix.lower() in HTML_SUFFIXES
