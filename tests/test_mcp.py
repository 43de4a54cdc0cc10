"""`regionqa mcp` over stdio, driven by the MCP SDK's own client: initialise, list the tools, call each,
and bad arguments come back as tool errors while the server keeps serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import ARTICLE_NAME, REPO, Dirs

REGIONQA = [sys.executable, "-c", "import sys; sys.argv[0] = 'regionqa'; from regionqa.cli import app; app()"]
TOOLS = {"ask", "search", "entities", "facts"}
QUESTION = "How much cargo can the Alat port handle now?"


def server_environment() -> dict[str, str]:
    """This test's environment (its isolated folders, the article index) plus the path to this checkout's package."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}


def check_span(dirs: Dirs, span: dict) -> None:
    text = dirs.source_text(span["source"])
    assert text[span["start"] : span["end"]] == span["text"]


async def session_calls(dirs: Dirs) -> dict:
    """One session of the SDK's stdio client against `regionqa mcp`: every result it got, by name."""
    from mcp.client.client import Client
    from mcp.client.stdio import StdioServerParameters

    parameters = StdioServerParameters(
        command=REGIONQA[0], args=[*REGIONQA[1:], "mcp"], env=server_environment(), cwd=str(dirs.corpus_dir.parent)
    )
    got: dict = {}
    async with Client(parameters, read_timeout_seconds=300) as client:
        got["tools"] = (await client.list_tools()).tools
        got["ask"] = await client.call_tool("ask", {"question": QUESTION, "top_k": 3})
        got["search"] = await client.call_tool("search", {"question": QUESTION, "top_k": 2})
        got["entities"] = await client.call_tool("entities", {"label": "person", "limit": 5})
        got["facts"] = await client.call_tool("facts", {"label": "MONEY"})
        got["bad"] = [
            await client.call_tool("ask", arguments)
            for arguments in (
                {"question": QUESTION, "top_k": 0},
                {"question": "   "},
                {"top_k": 3},
                {"question": QUESTION, "top_k": "many"},
            )
        ]
        got["bad"].append(await client.call_tool("facts", {"limit": 10_000}))
        got["after"] = await client.call_tool("search", {"question": QUESTION, "top_k": 1})
    return got


@pytest.fixture(scope="module")
def calls(article_index: Dirs, tmp_path_factory: pytest.TempPathFactory) -> dict:
    import anyio

    mp = pytest.MonkeyPatch()
    mp.setenv("REGIONQA_INDEX_DIR", str(article_index.index_dir))
    mp.setenv("REGIONQA_CORPUS_DIR", str(article_index.corpus_dir))
    mp.setenv("REGIONQA_DATA_DIR", str(tmp_path_factory.mktemp("mcp-data")))
    mp.setenv("REGIONQA_CONFIG", str(tmp_path_factory.mktemp("mcp-config") / "config.toml"))
    try:
        return anyio.run(session_calls, article_index)
    finally:
        mp.undo()


def test_the_four_tools_are_listed_with_input_and_output_schemas(calls: dict) -> None:
    tools = {tool.name: tool for tool in calls["tools"]}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.description and tool.output_schema, tool.name
        Draft202012Validator.check_schema(tool.input_schema)
    assert tools["ask"].input_schema["required"] == ["question"]
    ask_schema = json.loads((REPO / "schemas" / "ask.schema.json").read_text(encoding="utf-8"))
    assert set(tools["ask"].output_schema["properties"]) == set(ask_schema["properties"]), "the CLI's ask --json shape"


def test_ask_gives_the_cli_json_with_offsets_into_the_source(calls: dict, article_index: Dirs, ask_schema: dict) -> None:
    result = calls["ask"]
    assert not result.is_error
    data = result.structured_content
    assert list(Draft202012Validator(ask_schema).iter_errors(data)) == []
    assert json.loads(result.content[0].text) == data, "the text block is the same JSON, for clients without structured content"
    assert data["question"] == QUESTION and [p["rank"] for p in data["passages"]] == [1, 2, 3]
    for span in [*data["passages"], *data["facts"], *([data["answer"]] if data["answer"] else [])]:
        check_span(article_index, span)
    assert all(p["location"].startswith("line ") for p in data["passages"])


def test_search_gives_the_passages_alone(calls: dict, article_index: Dirs) -> None:
    data = calls["search"].structured_content
    assert set(data) == {"question", "passages"} and len(data["passages"]) == 2
    ask_passages = calls["ask"].structured_content["passages"]
    assert [p["chunk_id"] for p in data["passages"]] == [p["chunk_id"] for p in ask_passages[:2]], "the passages ask shows"
    for passage in data["passages"]:
        check_span(article_index, passage)


def test_entities_and_facts_give_the_cli_listings(calls: dict) -> None:
    entities = calls["entities"].structured_content["result"]
    assert 0 < len(entities) <= 5 and {row["label"] for row in entities} == {"PERSON"}
    assert all(row["sources"] == [ARTICLE_NAME] for row in entities)
    facts = calls["facts"].structured_content["result"]
    assert facts and {row["label"] for row in facts} == {"MONEY"} and all(row["unit"] for row in facts)


def test_bad_arguments_are_tool_errors_and_the_server_goes_on(calls: dict) -> None:
    for result in calls["bad"]:
        assert result.is_error and result.content[0].text
    assert "question is empty" in calls["bad"][1].content[0].text
    assert not calls["after"].is_error and len(calls["after"].structured_content["passages"]) == 1


def test_stdout_carries_nothing_but_protocol(article_env: Dirs, tmp_path: Path) -> None:
    """Raw JSON-RPC on the pipes, as Claude Desktop speaks it: every line on stdout is a JSON-RPC message."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "ask", "arguments": {"question": QUESTION}}},
    ]  # fmt: skip
    server = subprocess.Popen(
        [*REGIONQA, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_environment(), text=True
    )
    killer = threading.Timer(300, server.kill)
    killer.start()
    try:
        server.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        server.stdin.flush()
        lines = []
        while not any(json.loads(line).get("id") == 2 for line in lines):
            line = server.stdout.readline()
            assert line, f"the server ended early: {server.stderr.read()[-2000:]}"
            lines.append(line)
        server.stdin.close()
        lines += server.stdout.readlines()
        assert server.wait(timeout=60) == 0
    finally:
        killer.cancel()
        server.kill()
    replies = [json.loads(line) for line in lines]  # a stray print would fail here
    assert all(reply["jsonrpc"] == "2.0" for reply in replies)
    answer = next(reply for reply in replies if reply.get("id") == 2)["result"]
    assert answer["structuredContent"]["question"] == QUESTION
    assert "regionqa MCP server on stdio" in server.stderr.read(), "notes go to stderr"


async def ask_across_a_rebuild(dirs: Dirs) -> tuple[dict, dict]:
    """Search before and after a build that adds a source, in one MCP session."""
    from mcp.client.client import Client
    from mcp.client.stdio import StdioServerParameters

    from regionqa import indexing
    from regionqa.config import Settings

    question = "Which ferry carries 900 cars a day?"
    parameters = StdioServerParameters(command=REGIONQA[0], args=[*REGIONQA[1:], "mcp"], env=server_environment())
    async with Client(parameters, read_timeout_seconds=300) as client:
        before = (await client.call_tool("search", {"question": question, "top_k": 1})).structured_content
        (dirs.corpus_dir / "ferry.txt").write_text("The Zarvonsk ferry carries 900 cars a day across the bay.\n", encoding="utf-8")
        indexing.build(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir))
        after = (await client.call_tool("search", {"question": question, "top_k": 1})).structured_content
    return before, after


def test_the_tools_follow_a_rebuild_without_a_restart(small_copy: Dirs) -> None:
    import anyio

    before, after = anyio.run(ask_across_a_rebuild, small_copy)
    assert before["passages"][0]["source"] != "ferry.txt"
    assert after["passages"][0]["source"] == "ferry.txt"
