"""What `regionqa serve` refuses (server_guard.py) and the web page's routes (server_web.py), through TestClient.

DNS rebinding (a foreign Host), a missing or wrong token, cross-origin reads, too many questions at
once: each is refused in the one error shape and gives away no data. The page and its files are
served from the package, reference nothing outside this server, and escape document text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from conftest import ARTICLE_NAME, Dirs

TOKEN = "s3cret-token-for-tests-0123456789"
LOOPBACK = "http://127.0.0.1:8765"
QUESTION = "How much cargo can the Alat port handle now?"


def _app(dirs: Dirs, **guard):
    from regionqa.config import Settings
    from regionqa.server import Guard, create_app

    return create_app(Settings(corpus_dir=dirs.corpus_dir, index_dir=dirs.index_dir), guard=Guard(**guard))


@pytest.fixture(scope="module")
def open_client(article_index: Dirs):
    from fastapi.testclient import TestClient

    with TestClient(_app(article_index, allowed_hosts=("regionqa.lan",)), base_url=LOOPBACK) as client:
        yield client


@pytest.fixture(scope="module")
def token_client(article_index: Dirs):
    from fastapi.testclient import TestClient

    with TestClient(_app(article_index, token=TOKEN), base_url=LOOPBACK) as client:
        yield client


# ---------------------------------------------------------------- Host (DNS rebinding)


@pytest.mark.parametrize("path", ["/", "/health", "/entities", "/source/" + ARTICLE_NAME, "/openapi.json"])
@pytest.mark.parametrize(
    "host",
    [
        "attacker.example",
        "attacker.example:8765",
        "127.0.0.1.attacker.example",
        "0.0.0.0:8765",
        "",
        # A loopback or allowed name followed by anything but a port.
        "[::1]attacker.example",
        "[::1].attacker.example",
        "localhost:attacker.example",
        "localhost:abc@attacker.example",
        "regionqa.lan:junk",
        "[::1",  # an unclosed bracket
        "localhost:99999",  # no such port
    ],
)
def test_a_foreign_host_gets_421_and_no_data(open_client, path: str, host: str) -> None:
    reply = open_client.get(path, headers={"host": host})
    assert reply.status_code == 421
    assert list(reply.json()) == ["error"] and "--allow-host" in reply.json()["error"]
    reply = open_client.post("/ask", json={"question": QUESTION}, headers={"host": host})
    assert reply.status_code == 421 and "passages" not in reply.text


@pytest.mark.parametrize(
    "host", ["localhost:8765", "LocalHost.", "127.0.0.1", "127.8.9.10:80", "[::1]:8765", "regionqa.lan:8765", "localhost:"]
)
def test_loopback_names_and_allowed_hosts_are_served(open_client, host: str) -> None:
    reply = open_client.get("/health", headers={"host": host})
    assert reply.status_code == 200 and reply.json()["status"] == "ok"


def test_host_names_and_loopback() -> None:
    from regionqa.server_guard import host_name, is_loopback

    assert [host_name(h) for h in ("[::1]:8765", "LocalHost.:80", "example.org", "10.0.0.1:1")] == [
        "::1",
        "localhost",
        "example.org",
        "10.0.0.1",
    ]
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("[::1]") and is_loopback("localhost.")
    assert not is_loopback("0.0.0.0") and not is_loopback("localhost.example") and not is_loopback("192.168.1.5")


# ---------------------------------------------------------------- the token


def test_without_the_token_every_data_route_is_401(token_client) -> None:
    for method, path in [
        ("GET", "/health"),
        ("GET", "/entities"),
        ("GET", "/facts"),
        ("GET", "/source/" + ARTICLE_NAME),
        ("GET", "/openapi.json"),
    ]:
        reply = token_client.request(method, path)
        assert reply.status_code == 401, path
        assert list(reply.json()) == ["error"] and reply.headers["www-authenticate"] == "Bearer"
    for token in ("wrong-token-of-enough-length", TOKEN[:-1], TOKEN + "x", ""):
        reply = token_client.post("/ask", json={"question": QUESTION}, headers={"authorization": f"Bearer {token}"})
        assert reply.status_code == 401 and "passages" not in reply.text


def test_the_right_bearer_token_is_served(token_client) -> None:
    reply = token_client.post("/ask", json={"question": QUESTION}, headers={"authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200 and reply.json()["answer"]["text"]


def test_the_page_is_public_and_trades_the_token_for_an_httponly_cookie(token_client) -> None:
    from fastapi.testclient import TestClient

    for path in ("/", "/static/app.js", "/static/style.css"):
        assert token_client.get(path).status_code == 200, path
    assert token_client.post("/session").status_code == 401  # the cookie is only for the token's holder
    reply = token_client.post("/session", headers={"authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 204
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and TOKEN not in cookie
    value = re.match(r"regionqa_session=([^;]+)", cookie).group(1)
    fresh = TestClient(token_client.app, base_url=LOOPBACK)  # no `with`: its lifespan would close the shared app's engine
    fresh.cookies.set("regionqa_session", value)
    assert fresh.get("/source/" + ARTICLE_NAME).status_code == 200
    fresh.cookies.set("regionqa_session", value[:-1] + ("0" if value[-1] != "0" else "1"))
    assert fresh.get("/health").status_code == 401


@pytest.mark.parametrize(
    ("host", "options", "message"),
    [
        ("0.0.0.0", {}, "--token TOKEN"),
        ("192.168.1.5", {}, "--no-auth"),
        ("0.0.0.0", {"token": "short"}, "at least 16"),
        ("127.0.0.1", {"token": ""}, "is empty"),  # `--token "$TOKEN"`, TOKEN unset: not silently no authentication
        ("0.0.0.0", {"token": "has spaces in it, sixteen+"}, "without spaces"),
        ("0.0.0.0", {"token": TOKEN, "no_auth": True}, "contradict"),
        ("127.0.0.1", {"cors": ("evil.example",)}, "is not an origin"),
    ],
)
def test_exposed_addresses_need_a_token_or_no_auth(host: str, options: dict, message: str) -> None:
    from regionqa.errors import BadInputError
    from regionqa.server import Guard

    with pytest.raises(BadInputError, match=re.escape(message)):
        Guard.for_address(host, **options)


def test_a_bound_address_is_a_host_name_of_the_server() -> None:
    from regionqa.server import Guard

    guard = Guard.for_address("192.168.1.5", token=TOKEN, allow_hosts=("Box.LAN",))
    assert guard.allows_host("192.168.1.5:8765") and guard.allows_host("box.lan") and not guard.allows_host("attacker.example")
    assert not Guard.for_address("0.0.0.0", no_auth=True).allows_host("0.0.0.0")
    assert Guard.for_address("127.0.0.1").token is None


# ---------------------------------------------------------------- CORS, bounds


def test_cors_is_off_unless_an_origin_is_given(open_client, article_index: Dirs) -> None:
    from fastapi.testclient import TestClient

    origin = {"origin": "http://localhost:3000"}
    reply = open_client.get("/health", headers=origin)
    assert reply.status_code == 200 and "access-control-allow-origin" not in reply.headers
    preflight = {**origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type"}
    assert "access-control-allow-origin" not in open_client.options("/ask", headers=preflight).headers
    with TestClient(_app(article_index, cors_origins=("http://localhost:3000",)), base_url=LOOPBACK) as client:
        assert client.get("/health", headers=origin).headers["access-control-allow-origin"] == "http://localhost:3000"
        assert client.options("/ask", headers=preflight).status_code == 200
        other = client.get("/health", headers={"origin": "http://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_too_many_questions_at_once_get_429_with_retry_after(open_client) -> None:
    slots = open_client.app.state.slots
    taken = 0
    while slots.acquire(blocking=False):  # every slot busy, as under a burst of clients
        taken += 1
    try:
        assert taken == open_client.app.state.guard.max_questions
        reply = open_client.post("/ask", json={"question": QUESTION})
        assert reply.status_code == 429 and reply.headers["retry-after"] == "1"
        assert list(reply.json()) == ["error"] and "try again" in reply.json()["error"]
        assert open_client.get("/health").status_code == 200  # health needs no question slot
    finally:
        for _ in range(taken):
            slots.release()
    assert open_client.post("/ask", json={"question": QUESTION}).status_code == 200


# ---------------------------------------------------------------- the page, the source pages, the highlights


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href", "action") and value]


def test_the_page_loads_nothing_from_elsewhere(open_client) -> None:
    page = open_client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    parser = _References()
    parser.feed(page.text)
    assert parser.urls and all(url.startswith(("/", "#", "data:")) and not url.startswith("//") for url in parser.urls), parser.urls
    for path in ("/static/app.js", "/static/style.css"):
        text = open_client.get(path).text
        assert not re.search(r"https?:|@import|url\(|[\"'`]//", text), path  # no absolute or protocol-relative address
    assert "innerHTML" not in open_client.get("/static/app.js").text  # document text goes into text nodes only


def test_the_source_page_numbers_lines_and_marks_the_cited_span(open_client, article_index: Dirs) -> None:
    answer = open_client.post("/ask", json={"question": QUESTION}).json()["answer"]
    line = int(answer["location"].split()[-1])
    page = open_client.get(f"/source/{ARTICLE_NAME}", params={"start": answer["start"], "end": answer["end"]})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = article_index.source_text(ARTICLE_NAME)
    assert page.text.count("<li id=") == text.count("\n") + 1
    item = re.search(rf'<li id="line-{line}">(.*?)</li>', page.text).group(1)
    assert f'<mark class="cited" id="cited">{answer["text"]}</mark>' in item
    missing = open_client.get("/source/no-such-source.txt")
    assert missing.status_code == 404 and "no source named" in missing.json()["error"]
    # Names are percent-encoded by the page (encodeURIComponent): a folder's "/" and a JSONL record's "#" arrive whole.
    missing = open_client.get("/source/notes%2Fbook.jsonl%23rec-1")
    assert missing.status_code == 404 and "'notes/book.jsonl#rec-1'" in missing.json()["error"]


def test_source_pages_escape_the_text_and_mark_pages() -> None:
    from regionqa.server_web import source_page

    text = "x <script>alert(1)</script> & y\n\nsecond page line\n<b>third</b>"
    page = source_page('a"<b>.pdf', text, (0, 34, 52), 2, 10)
    assert "<script>" not in page and "<b>" not in page and "&lt;script&gt;" in page and "a&quot;&lt;b&gt;.pdf" in page
    assert (
        '<li id="line-1"><span class="page" id="page-1">p. 1</span>x <mark class="cited" id="cited">&lt;script&gt;</mark>alert(1)' in page
    )
    assert '<li id="line-3"><span class="page" id="page-2">p. 2</span>second page line</li>' in page
    assert 'id="page-3"' in re.search(r'<li id="line-4">.*?</li>', page).group(0)


def test_highlights_mark_the_answer_and_the_question_words(open_client) -> None:
    from regionqa.search import query_terms

    data = open_client.post("/ask/highlighted", json={"question": QUESTION}).json()
    plain = open_client.post("/ask", json={"question": QUESTION}).json()
    assert {key: value for key, value in data.items() if key != "highlights"} == plain
    assert len(data["highlights"]) == len(data["passages"])
    answer, words = data["answer"], query_terms(QUESTION)
    kinds = []
    for passage, marks in zip(data["passages"], data["highlights"]):
        starts = [mark["start"] for mark in marks]
        assert starts == sorted(starts) and all(a["end"] <= b["start"] for a, b in zip(marks, marks[1:]))  # sorted, disjoint
        for mark in marks:
            shown = passage["text"][mark["start"] : mark["end"]]
            kinds.append(mark["kind"])
            if mark["kind"] == "answer":
                assert shown == answer["text"] and passage["start"] + mark["start"] == answer["start"]
            else:  # a question word, or a form of it (the index's stemmer: "handle" marks "handled")
                assert any(shown.lower().startswith(word[:4]) for word in words), shown
    assert kinds.count("answer") >= 1 and kinds.count("term") >= 3


def test_serve_passes_the_guard_options_to_the_app(article_env: Dirs, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: calls.append((app, options)))
    result = cli("serve", "--host", "0.0.0.0", "--token", TOKEN, "--allow-host", "box.lan", "--cors", "http://localhost:3000")
    ((app, options),) = calls
    guard = app.state.guard
    assert options["host"] == "0.0.0.0" and guard.token == TOKEN and guard.allowed_hosts == ("box.lan",)
    assert guard.cors_origins == ("http://localhost:3000",)
    assert "#token=" in result.stderr and TOKEN not in result.stderr  # the address to open, without printing the secret
    monkeypatch.setenv("REGIONQA_TOKEN", TOKEN)
    cli("serve", "--host", "0.0.0.0")
    assert calls[-1][0].state.guard.token == TOKEN
    for empty in (["--token", ""], []):  # an empty --token, or an empty REGIONQA_TOKEN: not authentication turned off
        monkeypatch.setenv("REGIONQA_TOKEN", "")
        assert "is empty" in cli("serve", *empty, exit_code=2).stderr
    monkeypatch.setenv("REGIONQA_TOKEN", TOKEN)
    refused = cli("serve", "--token", "short", exit_code=2)
    assert "at least 16" in refused.stderr and len(calls) == 2
