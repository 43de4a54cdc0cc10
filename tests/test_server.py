"""`regionqa serve`'s HTTP API through FastAPI's TestClient, on the shared article index.

The API must return exactly what the CLI prints (`ask --json`, `entities --json`, `facts --json`),
refuse bad bodies with the CLI's messages, cap the body size and listen on loopback by default.
"""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from conftest import CLI, Dirs

QUESTIONS = [
    "How much cargo can the Alat port handle now?",
    "Who is the President of Kazakhstan?",
    "What is the boiling point of mercury on Mars?",
]


@pytest.fixture(scope="module")
def client(article_index: Dirs):
    from fastapi.testclient import TestClient

    from regionqa.config import Settings
    from regionqa.server import create_app

    app = create_app(Settings(corpus_dir=article_index.corpus_dir, index_dir=article_index.index_dir))
    with TestClient(app, base_url="http://127.0.0.1:8765") as test_client:  # a loopback Host (TestClient says "testserver")
        yield test_client


def test_ask_returns_the_cli_json_and_follows_the_schema(client, cli: CLI, article_env: Dirs, ask_schema: dict) -> None:
    validator = Draft202012Validator(ask_schema)
    for question in QUESTIONS:
        reply = client.post("/ask", json={"question": question, "top_k": 3})
        assert reply.status_code == 200, reply.text
        assert reply.headers["content-type"].startswith("application/json")
        data = reply.json()
        assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)] == []
        assert data == cli.json("ask", "--top-k", "3", question)
        assert len(data["passages"]) == 3


def test_ask_top_k_defaults_to_five_and_whitespace_is_collapsed(client) -> None:
    data = client.post("/ask", json={"question": "  How much cargo\tcan the Alat port\n handle now?  "}).json()
    assert data["question"] == QUESTIONS[0]
    assert [p["rank"] for p in data["passages"]] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"question": ""}, "the question is empty"),
        ({"question": " \t\n "}, "the question is empty"),
        ({"question": "x" * 2001}, "ask in at most 2,000"),
        ({"question": "Who?", "top_k": 0}, "--top-k must be between 1 and 100; got 0"),
        ({"question": "Who?", "top_k": 101}, "--top-k must be between 1 and 100; got 101"),
    ],
)
def test_bad_questions_get_the_cli_message(client, body: dict, message: str) -> None:
    from regionqa import engine as engine_mod
    from regionqa.errors import BadInputError

    reply = client.post("/ask", json=body)
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert message in error
    # The very words of the CLI's checks.
    with pytest.raises(BadInputError) as raised:
        engine_mod.check_question(body["question"])
        engine_mod.check_top_k(body.get("top_k", 5))
    assert error == str(raised.value)


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({}, "question: Field required"),
        ({"question": 3}, "question: Input should be a valid string"),
        ({"question": "Who?", "top_k": "5"}, "top_k: Input should be a valid integer"),
        ({"question": "Who?", "top_k": True}, "top_k: Input should be a valid integer"),
        ({"question": "Who?", "topk": 3}, "topk: Extra inputs are not permitted"),
        (["Who?"], "Input should be a valid dictionary"),
    ],
)
def test_malformed_bodies_are_422_with_one_error_line(client, body, where: str) -> None:
    reply = client.post("/ask", json=body)
    assert reply.status_code == 422
    assert list(reply.json()) == ["error"]
    assert where in reply.json()["error"]


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"question": "\xff\xfe"}', b"[" * 20_000 + b"]" * 20_000], ids=["syntax", "not-utf8", "nested"]
)
def test_a_body_that_is_not_json_is_422_in_the_error_shape(client, body: bytes) -> None:
    reply = client.post("/ask", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422
    assert list(reply.json()) == ["error"] and "not valid JSON" in reply.json()["error"]


def test_a_wrong_method_is_405_with_the_allowed_methods(client) -> None:
    reply = client.get("/ask")
    assert reply.status_code == 405 and reply.headers["allow"] == "POST" and list(reply.json()) == ["error"]


def test_a_content_length_that_is_not_a_number_is_400(client) -> None:
    reply = client.post("/ask", content=b"{}", headers={"content-type": "application/json", "content-length": "abc"})
    assert reply.status_code == 400 and reply.json() == {"error": "the Content-Length header is not a number"}


def test_body_over_the_cap_is_413_whether_declared_or_streamed(client) -> None:
    from regionqa.server import MAX_BODY_BYTES

    big = json.dumps({"question": "x" * (MAX_BODY_BYTES + 10)}).encode()
    reply = client.post("/ask", content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert "larger than" in reply.json()["error"]

    def chunks():  # no Content-Length: the middleware must count what it reads
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    reply = client.post("/ask", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413
    # Just under the cap is read and judged on its content (too long a question: 422, not 413).
    near = json.dumps({"question": "y " * ((MAX_BODY_BYTES - 40) // 2)}).encode()
    assert len(near) <= MAX_BODY_BYTES
    assert client.post("/ask", content=near, headers={"content-type": "application/json"}).status_code == 422


def test_the_app_still_answers_after_refusals(client) -> None:
    client.post("/ask", content=b"x" * 100_000)
    assert client.post("/ask", json={"question": QUESTIONS[0]}).status_code == 200


def test_health_names_the_index_and_the_encoder(client, article_index: Dirs) -> None:
    from regionqa import store

    data = client.get("/health").json()
    generation = store.current_generation(article_index.index_dir)
    assert data["status"] == "ok"
    assert data["generation"] == generation.name
    assert data["chunks"] == store.read_manifest(generation).chunks > 0
    assert data["sources"] == 1
    assert data["encoder"] in ("onnx", "sentence-transformers")


@pytest.mark.parametrize("path", ["/entities", "/facts"])
def test_listings_equal_the_cli_json(client, cli: CLI, article_env: Dirs, path: str) -> None:
    command = path.strip("/")
    assert client.get(path).json() == cli.json(command)


@pytest.mark.parametrize(("path", "label"), [("/entities", "person"), ("/entities", "GPE"), ("/facts", "money"), ("/facts", "PERCENT")])
def test_listings_filter_by_label_and_source(client, cli: CLI, article_env: Dirs, path: str, label: str) -> None:
    command = path.strip("/")
    rows = client.get(path, params={"label": label}).json()
    assert rows, f"the article has {label} rows"
    assert {row["label"] for row in rows} == {label.upper()}
    assert rows == cli.json(command, "--label", label)
    source = rows[0]["sources"][0] if command == "entities" else rows[0]["source"]
    assert client.get(path, params={"label": label, "source": source}).json() == rows
    assert client.get(path, params={"source": "no-such-source.txt"}).json() == []


def test_openapi_describes_every_endpoint(client) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/ask", "/entities", "/facts", "/health"} <= set(spec["paths"])
    ask = spec["paths"]["/ask"]["post"]
    assert {"200", "400", "413", "422", "503"} <= set(ask["responses"])
    request = spec["components"]["schemas"]["AskRequest"]
    assert request["required"] == ["question"]
    assert request["properties"]["top_k"]["minimum"] == 1 and request["properties"]["top_k"]["maximum"] == 100
    # Swagger UI and ReDoc would load their scripts from a CDN: off, in the one error shape.
    for path in ("/docs", "/redoc"):
        reply = client.get(path)
        assert reply.status_code == 404 and list(reply.json()) == ["error"]


def test_the_documented_responses_are_the_contracts_models(client) -> None:
    """OpenAPI documents the responses with the models that schemas/ are generated from (regionqa.contract)."""
    from regionqa import contract

    spec = client.get("/openapi.json").json()
    components = spec["components"]["schemas"]
    for path, method, model in [("/ask", "post", contract.AskOut), ("/health", "get", contract.HealthOut)]:
        reply = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        assert reply == {"$ref": f"#/components/schemas/{model.__name__}"}
        assert list(components[model.__name__]["properties"]) == list(model.model_fields)
    for path, model in [("/entities", contract.EntityOut), ("/facts", contract.FactOut)]:
        reply = spec["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert reply["items"] == {"$ref": f"#/components/schemas/{model.__name__}"}
    assert spec["paths"]["/ask"]["post"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }


def test_library_errors_map_to_400_and_503(article_index: Dirs) -> None:
    from fastapi.testclient import TestClient

    from regionqa import engine as engine_mod
    from regionqa.config import Settings
    from regionqa.errors import BadInputError, IndexStateError
    from regionqa.server import create_app

    class Failing(engine_mod.Engine):
        error: Exception | None = None

        def ask(self, question: str, top_k: int = 5, sources: engine_mod.SourceFilter | None = None):
            if self.error is not None:
                raise self.error
            return super().ask(question, top_k, sources)

    engine = Failing(Settings(corpus_dir=article_index.corpus_dir, index_dir=article_index.index_dir))
    with TestClient(create_app(engine.settings, engine), base_url="http://localhost") as client:
        engine.error = IndexStateError("the index is gone; run: regionqa index build --full")
        reply = client.post("/ask", json={"question": "Who?"})
        assert (reply.status_code, reply.json()) == (503, {"error": "the index is gone; run: regionqa index build --full"})
        engine.error = BadInputError("no such thing")
        reply = client.post("/ask", json={"question": "Who?"})
        assert (reply.status_code, reply.json()) == (400, {"error": "no such thing"})


def test_a_missing_index_is_refused_when_the_app_is_created(tmp_path) -> None:
    from regionqa.config import Settings
    from regionqa.errors import IndexStateError
    from regionqa.server import create_app

    with pytest.raises(IndexStateError):
        create_app(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"))


def test_serve_listens_on_loopback_by_default() -> None:
    import typer.main

    from regionqa.cli import app
    from regionqa.server import DEFAULT_HOST, DEFAULT_PORT, is_loopback

    serve = typer.main.get_command(app).commands["serve"]
    defaults = {param.name: param.default for param in serve.params}
    assert defaults["host"] == DEFAULT_HOST == "127.0.0.1"
    assert defaults["port"] == DEFAULT_PORT == 8765
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_serve_passes_its_options_to_uvicorn(article_env: Dirs, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    result = cli("serve", "--port", "9123")
    ((app, options),) = calls
    assert options["host"] == "127.0.0.1" and options["port"] == 9123
    assert "http://127.0.0.1:9123" in result.stderr
    refused = cli("serve", "--host", "0.0.0.0", exit_code=2)  # not loopback: a token or an explicit --no-auth
    assert "--token" in refused.stderr and "--no-auth" in refused.stderr and len(calls) == 1
    cli("serve", "--host", "0.0.0.0", "--no-auth")
    assert calls[-1][1]["host"] == "0.0.0.0"
    cli("serve", "--port", "0", exit_code=2)


def test_serve_on_a_port_in_use_is_one_line_before_any_serving_claim(article_env: Dirs, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append(options))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = cli("serve", "--port", str(port), exit_code=2)
    assert refused.stderr == f"error: port {port} on 127.0.0.1 is in use (another server?); pass a free one with --port N\n"
    assert calls == []
    cli("serve", "--port", str(port))  # free again
    assert calls[0]["port"] == port


@pytest.mark.parametrize("access_log", [True, False])
def test_access_log_logs_each_request_on_stderr_and_uvicorn_notes_only_from_warnings(access_log: bool) -> None:
    import logging
    import sys

    import uvicorn

    from regionqa.server import uvicorn_logging

    uvicorn.Config(lambda scope, receive, send: None, **uvicorn_logging(access_log))  # configures logging as uvicorn.run does
    access, error = logging.getLogger("uvicorn.access"), logging.getLogger("uvicorn.error")
    assert access.isEnabledFor(logging.INFO) and access.handlers if access_log else not access.handlers
    assert all(handler.stream is sys.stderr for handler in access.handlers)
    assert error.isEnabledFor(logging.WARNING) and not error.isEnabledFor(logging.INFO)


def test_importing_the_cli_does_not_import_fastapi() -> None:
    import subprocess
    import sys

    code = "import sys, regionqa.cli; print('fastapi' in sys.modules or 'uvicorn' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
