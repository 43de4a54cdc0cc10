"""`regionqa serve`: a local HTTP API and web page over the live index, with the same JSON as the CLI.

    GET  /                                                -> the web page (server_web.py, regionqa/web/)
    POST /ask        {"question": str, "top_k": int = 5}  -> the `ask --json` object
    POST /ask/highlighted  (the same body)                -> the same plus the spans the page highlights
    GET  /entities   ?label=&source=                      -> the `entities --json` list
    GET  /facts      ?label=&source=                      -> the `facts --json` list
    GET  /source/NAME?start=&end=                         -> a source's text as a page (#line-11, #page-3)
    GET  /health                                          -> what is being served
    GET  /openapi.json                                    -> the OpenAPI description (/docs is off: Swagger UI loads from a CDN)

A `live.LiveEngine` holds the warm engine of the generation CURRENT names and switches to a new
one between requests when a build publishes it; every reply that read the index names its
generation in the X-Regionqa-Generation header. A question costs only its own work (about 10 ms
on the article), not the imports and model loads of a cold `regionqa ask`. FastAPI and uvicorn
are imported only here and by the `serve` command, so `regionqa --help` does not pay for them.
What the server refuses (Host, token, CORS, body size, questions at once) is in server_guard.py.

Errors have one shape, {"error": message}: 422 for a body that is not JSON (or not UTF-8, or
nested too deep to parse), is not the documented object, or holds a question or top_k the CLI
would refuse (the CLI's message); 400 for a bad query argument of a GET (the CLI's message) or
Content-Length; 401 without the token; 404 for an unknown path or source; 413 for a body over
MAX_BODY_BYTES; 421 for a Host that is not this server's; 429 when too many questions are waiting;
503 when the index or a model cannot be used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import engine as engine_mod
from . import render
from .config import Settings
from .contract import AskOut, EntityOut, ErrorOut, FactOut, HealthOut, HighlightedAskOut
from .errors import BadInputError, RegionQAError
from .live import LiveEngine
from .server_guard import MAX_BODY_BYTES, BodyLimit, Guard, HostGuard, TokenGuard, is_loopback
from .server_web import add_page_routes, highlights
from .version import __version__

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "MAX_BODY_BYTES", "Guard", "create_app", "is_loopback", "run"]

DEFAULT_HOST = "127.0.0.1"  # loopback: other addresses need --token or --no-auth (server_guard.Guard.for_address)
DEFAULT_PORT = 8765
WARM_UP_QUESTION = "What is this about?"
GENERATION_HEADER = "X-Regionqa-Generation"


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
    401: {"model": ErrorOut, "description": "The server was started with --token and the request does not carry it."},
    413: {"model": ErrorOut, "description": f"The request body is over {MAX_BODY_BYTES:,} bytes."},
    421: {"model": ErrorOut, "description": "The Host header is not a name of this server (see --allow-host)."},
    422: {
        "model": ErrorOut,
        "description": "The body is not JSON or not the documented object, or its question or top_k is refused (the CLI's message).",
    },
    429: {"model": ErrorOut, "description": "Too many questions are being answered or waiting; try again after Retry-After seconds."},
    503: {"model": ErrorOut, "description": "The index or a model cannot be used."},
}


# ---------------------------------------------------------------- the app


def _json(data: object, status_code: int = 200, engine: engine_mod.Engine | None = None) -> Response:
    """JSON exactly as the CLI prints it (render.dumps), naming the generation that answered."""
    headers = {GENERATION_HEADER: engine.store.generation.name} if engine is not None else None
    return Response(render.dumps(data), status_code=status_code, media_type="application/json", headers=headers)


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


def create_app(settings: Settings, engine: engine_mod.Engine | LiveEngine | None = None, guard: Guard | None = None) -> FastAPI:
    """The HTTP API and web page over the live index, opened now (and warmed up) unless an engine is given.

    Args:
        settings: where the index is; `Settings()` reads REGIONQA_INDEX_DIR like the CLI.
        engine: an engine already opened on that index (the CLI's `open_engine`) or a LiveEngine, if any.
        guard: what the server refuses (server_guard.Guard); the default serves loopback without a token.

    Returns:
        The FastAPI app; closing it (its lifespan ending) closes the engine.

    Raises:
        RegionQAError: the index or a model cannot be opened (nothing is served then).

    Example:
        >>> from fastapi.testclient import TestClient
        >>> client = TestClient(create_app(Settings()), base_url="http://localhost")  # a loopback Host: others get 421
        >>> client.post("/ask", json={"question": "Who is the President of Azerbaijan?"}).json()["answer"]
    """
    live = engine if isinstance(engine, LiveEngine) else LiveEngine(settings, engine)
    guard = guard or Guard()
    with live.use() as warm:
        try:
            warm.ask(WARM_UP_QUESTION)  # loads the query encoder and the answer modules now, not on the first request
        except BadInputError:
            pass
    app = FastAPI(
        title="regionqa",
        version=__version__,
        description="Answers from your documents, offline, with the passage and character offsets that support every answer. "
        "The same JSON as `regionqa ask --json`, `entities --json` and `facts --json`.",
        lifespan=_lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: off, the server works offline
        redoc_url=None,
    )
    _add_guards(app, guard)
    app.state.live, app.state.guard = live, guard
    # One question at a time: the engine's SQLite connection and encoder cache are shared, and on
    # two cores concurrent answers would only contend for the same CPU. At most guard.max_questions
    # wait for it (429 beyond), so a burst of clients cannot pile up threads and memory.
    app.state.lock = threading.Lock()
    app.state.slots = threading.BoundedSemaphore(guard.max_questions)
    app.add_exception_handler(RequestValidationError, _invalid_body)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RegionQAError, _regionqa_error)
    _add_api_routes(app)
    add_page_routes(app, borrow, _error)
    return app


def _add_guards(app: FastAPI, guard: Guard) -> None:
    """The middleware, innermost first (Starlette runs the last added first): body cap, token, CORS, Host."""
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(TokenGuard, guard=guard)
    if guard.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(guard.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(HostGuard, guard=guard)


def _add_api_routes(app: FastAPI) -> None:
    app.add_api_route("/ask", ask, methods=["POST"], response_model=AskOut, responses=ERRORS, summary="Answer a question")
    app.add_api_route(
        "/ask/highlighted",
        ask_highlighted,
        methods=["POST"],
        response_model=HighlightedAskOut,
        responses=ERRORS,
        summary="Answer a question, with the spans of each passage to highlight",
    )
    app.add_api_route(
        "/entities", entities, methods=["GET"], response_model=list[EntityOut], responses=ERRORS, summary="List named entities"
    )
    app.add_api_route("/facts", facts, methods=["GET"], response_model=list[FactOut], responses=ERRORS, summary="List figures")
    app.add_api_route("/health", health, methods=["GET"], response_model=HealthOut, summary="What is being served")


@contextmanager
def borrow(request: Request) -> Iterator[engine_mod.Engine]:
    """The engine of the current generation for one request, at most guard.max_questions at once (429 beyond)."""
    state = request.app.state
    if not state.slots.acquire(blocking=False):
        message = f"{state.guard.max_questions} questions are being answered or waiting already; try again in a moment"
        raise StarletteHTTPException(429, message, headers={"Retry-After": "1"})
    try:
        # The generation is picked (and switched) before waiting for the lock, so a switch that
        # opens a new generation does not hold up the questions answered meanwhile from the old one.
        with state.live.use() as engine, state.lock:
            yield engine
    finally:
        state.slots.release()


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield
    app.state.live.close()


def run(engine: engine_mod.Engine, host: str, port: int, guard: Guard, access_log: bool, notify: Callable[[str], None]) -> None:
    """Serve the app over `engine` on host:port with uvicorn until interrupted (what `regionqa serve` does)."""
    application = create_app(engine.settings, LiveEngine(engine.settings, engine, notify=notify), guard)
    import uvicorn

    where = f"[{host}]" if ":" in host else host
    page = f"http://{where}:{port}/" + ("#token=…" if guard.token else "")
    notify(
        f"regionqa serving {engine.store.generation} on http://{where}:{port} (web page: {page}; OpenAPI: /openapi.json); Ctrl-C to stop"
    )
    uvicorn.run(application, host=host, port=port, **uvicorn_logging(access_log))


def uvicorn_logging(access_log: bool) -> dict:
    """uvicorn's logging options: its own messages from warnings up, and with `access_log` a line a
    request, both on stderr. (uvicorn's log_level applies to its access log too: "warning" there
    silenced every request line.)"""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"  # stdout is for what a command prints
    config["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config["loggers"]["uvicorn.access"]["level"] = "INFO"
    return {"log_config": config, "log_level": None, "access_log": access_log}


def check_port_free(host: str, port: int) -> None:
    """BadInputError when host:port cannot be listened on (another server holds it, a host that is not this
    machine's): said before the "serving" line, not as uvicorn's log line and its exit code 3 (which means
    a broken index here). Bound as uvicorn binds (SO_REUSEADDR) and let go at once."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise BadInputError(f"port {port} on {host} is in use (another server?); pass a free one with --port N") from None
            if error.errno == errno.EACCES:
                raise BadInputError(f"port {port} needs administrator rights; pass one from 1024 up with --port N") from None
            reason = error.strerror or str(error)
            raise BadInputError(f"cannot listen on {host}:{port} ({reason}); pass this machine's address with --host") from None


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


def _sources(body: AskRequest) -> engine_mod.SourceFilter:
    return engine_mod.SourceFilter(tuple(body.source or ()), body.since, body.until)


def ask(body: AskRequest, request: Request) -> Response:
    """A short answer with its citation (or null and a message), the passages behind it, and the facts that bear on it."""
    sources = _sources(body)
    with borrow(request) as engine:
        result = engine.ask(body.question, body.top_k, sources)
    return _json(AskOut.of(result).dump(), engine=engine)


def ask_highlighted(body: AskRequest, request: Request) -> Response:
    """As POST /ask, plus for each passage the spans to highlight (the answer, the question's words): what the web page shows."""
    sources = _sources(body)
    with borrow(request) as engine:
        result = engine.ask(body.question, body.top_k, sources)
        marks = highlights(engine.store, result)
    return _json({**AskOut.of(result).dump(), "highlights": marks}, engine=engine)


def entities(request: Request, label: Label = None, source: SourceFilter = None) -> Response:
    """The named entities of the corpus with label, count and sources, most frequent first."""
    with borrow(request) as engine:
        rows = engine_mod.list_entities(engine, label.upper() if label else None, source)
    return _json([EntityOut.of(row).dump() for row in rows], engine=engine)


def facts(request: Request, label: FigureLabel = None, source: SourceFilter = None) -> Response:
    """The figures of the corpus (money, quantities, percentages, counts, dates) with normalised values."""
    with borrow(request) as engine:
        rows = engine_mod.list_facts(engine, label.upper() if label else None, source)
    return _json([FactOut.of(fact).dump() for fact in rows], engine=engine)


def health(request: Request) -> Response:
    """The index generation and size, and which query encoder answers."""
    with request.app.state.live.use() as engine:  # no question slot: a health check must answer while questions queue
        manifest = engine.store.manifest
        reply = HealthOut.model_construct(
            status="ok", version=__version__, generation=engine.store.generation.name,
            sources=manifest.sources, chunks=manifest.chunks, encoder=_encoder_name(engine),
        )  # fmt: skip
    return _json(reply.dump(), engine=engine)
