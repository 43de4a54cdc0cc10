"""`regionqa serve`: a local HTTP API over one warm engine, with the same JSON as the CLI.

    POST /ask        {"question": str, "top_k": int = 5}  -> the `ask --json` object
    GET  /entities   ?label=&source=                      -> the `entities --json` list
    GET  /facts      ?label=&source=                      -> the `facts --json` list
    GET  /health                                          -> what is being served
    GET  /openapi.json, /docs                             -> the OpenAPI description

One `engine.Engine` is opened when the app is created and answers every request, so a
question costs only its own work (about 10 ms on the article), not the imports and model
loads of a cold `regionqa ask`. FastAPI and uvicorn are imported only here and by the `serve`
command, so `regionqa --help` does not pay for them.

Errors have one shape, {"error": message}: 422 for a body that is not JSON (or not UTF-8, or
nested too deep to parse), is not the documented object, or holds a question or top_k the CLI
would refuse (the CLI's message); 400 for a bad query argument of a GET (the CLI's message) or
Content-Length; 413 for a body over MAX_BODY_BYTES; 503 when the index or a model cannot be used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import engine as engine_mod
from . import render
from .config import Settings
from .contract import AskOut, EntityOut, ErrorOut, FactOut, HealthOut
from .errors import BadInputError, RegionQAError
from .version import __version__

DEFAULT_HOST = "127.0.0.1"  # loopback only: the API has no authentication
DEFAULT_PORT = 8765
MAX_BODY_BYTES = 64 * 1024  # a question is at most MAX_QUESTION_CHARS (2,000) characters
WARM_UP_QUESTION = "What is this about?"


# ---------------------------------------------------------------- the request (the responses are in contract.py)


def _question(value: str) -> str:
    try:
        return engine_mod.check_question(value)
    except BadInputError as error:
        raise ValueError(str(error)) from None


def _top_k(value: int) -> int:
    try:
        return engine_mod.check_top_k(value)
    except BadInputError as error:
        raise ValueError(str(error)) from None


class AskRequest(BaseModel):
    """A question; `top_k` passages are returned (as `ask --top-k`)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"question": "How much cargo can the Alat port handle now?", "top_k": 5}]}
    )

    # Checked by the CLI's own functions, so that the API and the CLI refuse with the same words.
    question: Annotated[
        str,
        Field(strict=True, description=f"At most {engine_mod.MAX_QUESTION_CHARS:,} characters once whitespace is collapsed."),
        AfterValidator(_question),
    ]
    top_k: Annotated[int, Field(strict=True, json_schema_extra={"minimum": 1, "maximum": engine_mod.MAX_TOP_K}), AfterValidator(_top_k)] = 5
    # As `ask --source/--since/--until`: the question is asked of the matching sources only.
    source: list[str] | None = Field(None, description="Only sources whose name matches one of these globs ('web/*', '*.pdf').")
    since: str | None = Field(None, description="Only sources dated on or after this date (YYYY-MM-DD, YYYY-MM or YYYY).")
    until: str | None = Field(None, description="Only sources dated on or before this date (YYYY-MM-DD, YYYY-MM or YYYY).")


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "A bad query argument (the CLI's message)."},
    413: {"model": ErrorOut, "description": f"The request body is over {MAX_BODY_BYTES:,} bytes."},
    422: {
        "model": ErrorOut,
        "description": "The body is not JSON or not the documented object, or its question or top_k is refused (the CLI's message).",
    },
    503: {"model": ErrorOut, "description": "The index or a model cannot be used."},
}


# ---------------------------------------------------------------- the body cap


class BodyLimit:
    """ASGI middleware: refuse a request body over `max_bytes` with 413 before the app reads it.

    A declared Content-Length over the cap is refused at once; a body without one (chunked) is
    read up to the cap and handed on whole, so a client cannot stream an unbounded body.
    """

    def __init__(self, app: Callable, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and not declared.isdigit():
            await self._refuse(send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        if scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Callable, status: int = 413, message: str | None = None) -> None:
        content = render.dumps(ErrorOut(error=message or f"the request body is larger than {self.max_bytes:,} bytes").dump()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


# ---------------------------------------------------------------- the app


def _json(data: object, status_code: int = 200) -> Response:
    """JSON exactly as the CLI prints it (render.dumps)."""
    return Response(render.dumps(data), status_code=status_code, media_type="application/json")


def _error(message: str, status_code: int) -> Response:
    return _json(ErrorOut(error=message).dump(), status_code)


def _validation_message(error: dict) -> str:
    """The validator's own message for our checks (the CLI's words), else "field: problem"."""
    original = (error.get("ctx") or {}).get("error")
    if error.get("type") == "json_invalid":
        return f"the request body is not valid JSON ({original or 'cannot be decoded'})"
    if isinstance(original, ValueError):
        return str(original)
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
    return f"{where}: {error.get('msg', 'invalid')}"


def _encoder_name(engine: engine_mod.Engine) -> str:
    from .onnx_encoder import OnnxEncoder

    return "onnx" if isinstance(engine.encoder, OnnxEncoder) else "sentence-transformers"


def create_app(settings: Settings, engine: engine_mod.Engine | None = None) -> FastAPI:
    """The HTTP API over one engine, opened now (and warmed up) unless one is given.

    Args:
        settings: where the index is; `Settings()` reads REGIONQA_INDEX_DIR like the CLI.
        engine: an engine already opened on that index (the CLI's `open_engine`), if any.

    Returns:
        The FastAPI app; closing it (its lifespan ending) closes the engine.

    Raises:
        RegionQAError: the index or a model cannot be opened (nothing is served then).

    Example:
        >>> from fastapi.testclient import TestClient
        >>> client = TestClient(create_app(Settings()))
        >>> client.post("/ask", json={"question": "Who is the President of Azerbaijan?"}).json()["answer"]
    """
    engine = engine or engine_mod.Engine(settings)
    try:
        engine.ask(WARM_UP_QUESTION)  # loads the query encoder and the answer modules now, not on the first request
    except BadInputError:
        pass
    app = FastAPI(
        title="regionqa",
        version=__version__,
        description="Answers from your documents, offline, with the passage and character offsets that support every answer. "
        "The same JSON as `regionqa ask --json`, `entities --json` and `facts --json`.",
        lifespan=_lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.state.engine = engine
    # One question at a time: the engine's SQLite connection and encoder cache are shared, and on
    # two cores concurrent answers would only contend for the same CPU.
    app.state.lock = threading.Lock()
    app.add_exception_handler(RequestValidationError, _invalid_body)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RegionQAError, _regionqa_error)
    app.add_api_route("/ask", ask, methods=["POST"], response_model=AskOut, responses=ERRORS, summary="Answer a question")
    app.add_api_route(
        "/entities", entities, methods=["GET"], response_model=list[EntityOut], responses=ERRORS, summary="List named entities"
    )
    app.add_api_route("/facts", facts, methods=["GET"], response_model=list[FactOut], responses=ERRORS, summary="List figures")
    app.add_api_route("/health", health, methods=["GET"], response_model=HealthOut, summary="What is being served")
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    app.state.engine.close()


# ---------------------------------------------------------------- errors


async def _invalid_body(_: Request, error: RequestValidationError) -> Response:
    problems = error.errors()
    message = "; ".join(dict.fromkeys(_validation_message(p) for p in problems)) or "the request is not valid"
    return _error(message, 422)


async def _http_error(_: Request, error: StarletteHTTPException) -> Response:
    # FastAPI's own errors ({"detail": ...}) in the one error shape, with their headers (a 405
    # names the allowed methods). A body it cannot parse (not JSON, not UTF-8, nested past the
    # parser's limit) is said plainly, as 422 like other bodies that are not JSON; the wording
    # matched is FastAPI's (fastapi/routing.py), checked by tests/test_server.py.
    if error.detail == "There was an error parsing the body":
        return _error("the request body is not valid JSON (UTF-8, not nested too deep)", 422)
    reply = _error(str(error.detail), error.status_code)
    reply.headers.update(error.headers or {})
    return reply


async def _regionqa_error(_: Request, error: RegionQAError) -> Response:
    return _error(str(error), 400 if isinstance(error, BadInputError) else 503)


# ---------------------------------------------------------------- routes

Label = Annotated[str | None, Query(description="Only this label, e.g. PERSON, ORG, GPE.", max_length=64)]
FigureLabel = Annotated[
    str | None, Query(description="Only this label: MONEY, QUANTITY, PERCENT, CARDINAL, MULTIPLIER, DATE.", max_length=64)
]
SourceFilter = Annotated[str | None, Query(description="Only this source.", max_length=4096)]


def ask(body: AskRequest, request: Request) -> Response:
    """A short answer with its citation (or null and a message), the passages behind it, and the facts that bear on it."""
    engine = request.app.state.engine
    sources = engine_mod.SourceFilter(tuple(body.source or ()), body.since, body.until)
    with request.app.state.lock:
        result = engine.ask(body.question, body.top_k, sources)
    return _json(AskOut.of(result).dump())


def entities(request: Request, label: Label = None, source: SourceFilter = None) -> Response:
    """The named entities of the corpus with label, count and sources, most frequent first."""
    with request.app.state.lock:
        rows = engine_mod.list_entities(request.app.state.engine, label.upper() if label else None, source)
    return _json([EntityOut.of(row).dump() for row in rows])


def facts(request: Request, label: FigureLabel = None, source: SourceFilter = None) -> Response:
    """The figures of the corpus (money, quantities, percentages, counts, dates) with normalised values."""
    with request.app.state.lock:
        rows = engine_mod.list_facts(request.app.state.engine, label.upper() if label else None, source)
    return _json([FactOut.of(fact).dump() for fact in rows])


def health(request: Request) -> Response:
    """The index generation and size, and which query encoder answers."""
    engine = request.app.state.engine
    manifest = engine.store.manifest
    reply = HealthOut.model_construct(
        status="ok", version=__version__, generation=engine.store.generation.name,
        sources=manifest.sources, chunks=manifest.chunks, encoder=_encoder_name(engine),
    )  # fmt: skip
    return _json(reply.dump())


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or name (only those are safe for an API without authentication)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
