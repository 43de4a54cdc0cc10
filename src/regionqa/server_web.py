"""The web page of `regionqa serve`: `/` and its two files, the source text at `/source/NAME`, and the highlights.

Everything the page needs is served from the package (`regionqa/web/`: index.html, app.js,
style.css): no CDN, no web font, nothing fetched from elsewhere, and a Content-Security-Policy that
lets the page load only from this server. Document text reaches the browser only as JSON (the page
puts it in text nodes) or escaped by `html.escape` here; highlights are offsets, never markup.
"""

from __future__ import annotations

import html
from bisect import bisect_right
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from .models import Result
from .search import query_terms
from .store import Store, term_spans

WEB_FILES = Path(__file__).resolve().parent / "web"
PAGE_FILES = {"/": ("index.html", "text/html; charset=utf-8"), "/static/app.js": ("app.js", "text/javascript; charset=utf-8")}
PAGE_FILES["/static/style.css"] = ("style.css", "text/css; charset=utf-8")
# Only this server's own files and requests; no inline script, no frames, the token never sent on as a Referer.
PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}

Borrow = Callable[[Request], AbstractContextManager]  # server.borrow: the engine of the current generation, bounded


def highlights(store: Store, result: Result) -> list[list[dict]]:
    """For each passage of `result`, the spans to highlight, as offsets into the passage's text, sorted:
    the answer where it lies in the passage, and the question's words as the index's full-text search
    matches them (stems included) that do not overlap it."""
    texts = [hit.chunk.text for hit in result.passages]
    words = term_spans(texts, query_terms(result.question))
    out = []
    for hit, spans in zip(result.passages, words):
        chunk, answer, marks = hit.chunk, result.answer, []
        if answer is not None and answer.source == chunk.source and chunk.start <= answer.start and answer.end <= chunk.end:
            marks.append({"start": answer.start - chunk.start, "end": answer.end - chunk.start, "kind": "answer"})
        taken = [(m["start"], m["end"]) for m in marks]
        marks += [{"start": s, "end": e, "kind": "term"} for s, e in spans if all(e <= a or s >= b for a, b in taken)]
        out.append(sorted(marks, key=lambda m: m["start"]))
    return out


def source_page(name: str, text: str, pages: tuple[int, ...], start: int | None, end: int | None) -> str:
    """A source's text as an HTML page: one numbered item a line (`#line-11`), a mark where each page
    starts (`#page-3`, PDFs), and the cited span [start, end) marked. All text is escaped."""
    line_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]
    page_at = {bisect_right(line_starts, offset) - 1: number for number, offset in reversed(list(enumerate(pages, start=1)))}
    cited = (start, end) if start is not None and end is not None and 0 <= start < end <= len(text) else None
    items = []
    for index, line_start in enumerate(line_starts):
        line_end = line_starts[index + 1] - 1 if index + 1 < len(line_starts) else len(text)
        page = f'<span class="page" id="page-{page_at[index]}">p. {page_at[index]}</span>' if index in page_at else ""
        items.append(f'<li id="line-{index + 1}">{page}{_line_html(text, line_start, line_end, cited)}</li>')
    title = html.escape(name)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title} · regionqa</title><link rel="stylesheet" href="/static/style.css"><link rel="icon" href="data:,"></head>'
        f'<body class="source"><header><a href="/">regionqa</a><h1>{title}</h1></header>'
        f'<main><ol class="source-text">{"".join(items)}</ol></main></body></html>\n'
    )


def _line_html(text: str, start: int, end: int, cited: tuple[int, int] | None) -> str:
    """One line, escaped, with the part inside the cited span in <mark>."""
    if cited is None or cited[1] <= start or cited[0] >= end:
        return html.escape(text[start:end]) or " "
    a, b = max(cited[0], start), min(cited[1], end)
    mark_id = ' id="cited"' if a == cited[0] else ""
    return f'{html.escape(text[start:a])}<mark class="cited"{mark_id}>{html.escape(text[a:b])}</mark>{html.escape(text[b:end])}'


def add_page_routes(app: FastAPI, borrow: Borrow, error: Callable[[str, int], Response]) -> None:
    """Register `/`, its files, POST /session and GET /source/NAME on `app` (their content read now)."""
    files = {path: ((WEB_FILES / name).read_bytes(), media) for path, (name, media) in PAGE_FILES.items()}

    def page_file(request: Request) -> Response:
        content, media = files[request.url.path]
        return Response(content, media_type=media, headers=PAGE_HEADERS)

    def session(request: Request) -> Response:
        """Trade the token (already checked: Authorization: Bearer) for the page's session cookie."""
        reply = Response(status_code=204)
        guard = request.app.state.guard
        if guard.token is not None:
            reply.set_cookie("regionqa_session", guard.session_value(), httponly=True, samesite="strict", path="/")
        return reply

    def source(
        request: Request,
        name: str,
        start: Annotated[int | None, Query(ge=0, description="Start of the span to mark (a character offset).")] = None,
        end: Annotated[int | None, Query(ge=0, description="End of the span to mark.")] = None,
    ) -> Response:
        """The text of one source as a page, one numbered line each (#line-11), pages marked (#page-3)."""
        with borrow(request) as engine:
            pages = engine.store.pages(name)
            if pages is None:
                return error(f"no source named {name!r} in the index; see the names with: regionqa index status", 404)
            page = source_page(name, engine.store.source_text(name), pages, start, end)
        return Response(page, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    for path in PAGE_FILES:
        app.add_api_route(path, page_file, methods=["GET"], include_in_schema=False)
    app.add_api_route("/session", session, methods=["POST"], status_code=204, summary="Set the web page's session cookie")
    app.add_api_route("/source/{name:path}", source, methods=["GET"], summary="A source's text as a page", response_class=Response)
