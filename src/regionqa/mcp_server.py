"""`regionqa mcp`: the index as tools for an AI assistant, over the Model Context Protocol on stdio.

Tools: `ask` (the answer with its citation, the passages and the facts), `search` (the passages only),
`entities` and `facts`. Each returns the JSON the CLI's `--json` prints (contract.py's models, so
their schemas are the tools' output schemas): every span carries its source, location and character
offsets, for the assistant to quote and cite.

The engine is borrowed for each call from `borrow_engine` (a context manager): the CLI passes
`live.LiveEngine.use`, so the tools follow index rebuilds, switching to a new generation between
calls while a call in flight finishes on the old one. Only this module
imports the `mcp` SDK. On stdio, stdout is the protocol's alone: the SDK points fd 1 at stderr while
it serves, and logs go to stderr.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from .contract import AskOut, EntityOut, FactOut, PassageOut, SearchOut
from .errors import RegionQAError
from .version import __version__

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from .engine import Engine

INSTRUCTIONS = (
    "regionqa answers questions from the user's own documents, offline. Use `ask` for a question that wants a short answer, "
    "`search` for the passages alone, `entities` and `facts` to list people, places, organisations and figures. "
    "Every span has `source`, `location` (a line or page) and `start`/`end` character offsets: quote the text and cite "
    "the source and location. An answer of null means the documents do not say."
)
MAX_LIST = 1000  # rows an `entities` or `facts` call may return: a listing must fit an assistant's context

Question = Annotated[str, Field(min_length=1, max_length=2000, description="The question, in plain words.")]
TopK = Annotated[int, Field(ge=1, le=100, description="How many passages to return.")]
Label = Annotated[
    str | None, Field(description="Only this label, e.g. PERSON, ORG, GPE (entities); MONEY, QUANTITY, PERCENT, DATE (facts).")
]
SourceFilter = Annotated[str | None, Field(description="Only this source (its name as the results give it).")]
Limit = Annotated[int, Field(ge=1, le=MAX_LIST, description="At most this many rows.")]


BorrowEngine = Callable[[], AbstractContextManager["Engine"]]


def create_server(borrow_engine: BorrowEngine) -> MCPServer:
    """An MCP server whose tools answer from the engine `with borrow_engine() as engine:` lends (once per tool call)."""
    from mcp.server.mcpserver import MCPServer

    server = MCPServer(name="regionqa", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING")
    lock = threading.Lock()  # tools run in worker threads; one question at a time through the engine

    @server.tool(description="Answer a question from the documents: the short answer with its citation, the passages behind it, the facts.")
    def ask(question: Question, top_k: TopK = 5) -> AskOut:
        with _tool_errors(), lock, borrow_engine() as engine:
            return AskOut.of(engine.ask(question, top_k))

    @server.tool(description="The passages of the documents that best match a question, with citations, without answering it.")
    def search(question: Question, top_k: TopK = 5) -> SearchOut:
        from .engine import check_question

        with _tool_errors(), lock, borrow_engine() as engine:
            hits = engine.search(question, top_k)
            return SearchOut.model_construct(question=check_question(question), passages=[PassageOut.of(hit) for hit in hits])

    @server.tool(description="The named entities of the documents (people, places, organisations, ...) with label, count and sources.")
    def entities(label: Label = None, source: SourceFilter = None, limit: Limit = 200) -> list[EntityOut]:
        from .engine import list_entities

        with _tool_errors(), lock, borrow_engine() as engine:
            rows = list_entities(engine, label.upper() if label else None, source)
            return [EntityOut.of(row) for row in rows[:limit]]

    @server.tool(description="The figures of the documents (money, quantities, percentages, counts, dates) with normalised values.")
    def facts(label: Label = None, source: SourceFilter = None, limit: Limit = 200) -> list[FactOut]:
        from .engine import list_facts

        with _tool_errors(), lock, borrow_engine() as engine:
            rows = list_facts(engine, label.upper() if label else None, source)
            return [FactOut.of(row) for row in rows[:limit]]

    return server


@contextmanager
def _tool_errors() -> Iterator[None]:
    """regionqa's errors (a bad question, a broken index) as tool errors: the assistant reads the message."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        yield
    except RegionQAError as error:
        raise ToolError(" ".join(str(error).splitlines())) from None


def serve_stdio(borrow_engine: BorrowEngine) -> None:
    """Serve the tools over stdin/stdout until the client closes stdin."""
    create_server(borrow_engine).run("stdio")
