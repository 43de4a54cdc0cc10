"""Fetching URLs: safe corpus names, content types, size cap, redirects and errors, against a local server only."""

from __future__ import annotations

import socket

import pytest

from documents import Reply, make_pdf, serving
from regionqa import fetch
from regionqa.errors import SourceError

PAGE = b"<html><body><p>The Tervel canal carries barges.</p></body></html>"


@pytest.fixture(scope="module")
def server():
    def routes(server) -> dict[str, Reply]:
        return {
            "/page.html": Reply(PAGE),
            "/notes": Reply(b"Plain notes.\n", "text/plain"),
            "/report.pdf": Reply(make_pdf([["A one-page report."]]), "application/pdf"),
            "/download?id=7": Reply(
                make_pdf([["A download."]]),
                "application/octet-stream",
                headers=(("Content-Disposition", 'attachment; filename="report.pdf"'),),
            ),
            "/cyrillic.txt": Reply("Баку — порт.".encode("cp1251"), "text/plain; charset=windows-1251"),
            "/big-declared": Reply(b"x" * 5000, "text/plain"),
            "/big-streamed": Reply(b"x" * 200_000, "text/plain", length=False),
            "/video.mp4": Reply(b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
            "/moved": Reply(status=301, headers=(("Location", "/page.html"),)),
            "/to-file": Reply(status=302, headers=(("Location", "file:///etc/passwd"),)),
            "/loop": Reply(status=302, headers=(("Location", "/loop"),)),
            "/gone": Reply(b"gone", "text/plain", status=410),
            "/slow": Reply(b"late", "text/plain", delay=3.0),
        }

    with serving(routes) as running:
        yield running


@pytest.mark.parametrize(
    ("url", "suffix", "name"),
    [
        ("https://example.org/reports/2024/caspian.pdf", ".pdf", "web/example.org/reports-2024-caspian.pdf"),
        ("https://Example.ORG/", ".html", "web/example.org/index.html"),
        ("http://127.0.0.1:8123/page.html", ".html", "web/127.0.0.1_8123/page.html"),
        ("https://example.org/news/article.php", ".html", "web/example.org/news-article.html"),
        ("https://example.org/a%20b/.hidden", ".txt", "web/example.org/a-b-.hidden.txt"),
        ("https://example.org/.hidden", ".txt", "web/example.org/hidden.txt"),
        ("https://bücher.example/über", ".html", "web/xn--bcher-kva.example/über.html"),
    ],
)
def test_corpus_names_are_safe_and_readable(url: str, suffix: str, name: str) -> None:
    assert fetch.corpus_name(url, suffix) == name


def test_a_query_string_keeps_urls_apart() -> None:
    first = fetch.corpus_name("https://example.org/view?id=1", ".html")
    second = fetch.corpus_name("https://example.org/view?id=2", ".html")
    assert first != second and first.startswith("web/example.org/view-") and first.endswith(".html")
    long = fetch.corpus_name("https://example.org/" + "a" * 500, ".html")
    assert len(long.rsplit("/", 1)[1]) < 120


@pytest.mark.parametrize(
    ("content_type", "path", "disposition", "suffix"),
    [
        ("text/html; charset=utf-8", "/x", "", ".html"),
        ("application/pdf", "/x", "", ".pdf"),
        ("TEXT/PLAIN", "/x.html", "", ".txt"),  # the server's type wins over the URL
        ("application/octet-stream", "/files/report.pdf", "", ".pdf"),
        ("", "/notes.md", "", ".md"),
        ("application/octet-stream", "/get?id=3", 'attachment; filename="memo.docx"', ".docx"),
        ("application/octet-stream", "/get.txt", "attachment; filename*=UTF-8''%D0%BE.pdf", ".pdf"),
    ],
)
def test_the_content_type_decides_the_suffix(content_type: str, path: str, disposition: str, suffix: str) -> None:
    assert fetch.suffix_for(content_type, path, "u", disposition) == suffix


@pytest.mark.parametrize("text", ["http://a.b/c", "HTTPS://x", "https://127.0.0.1:80/"])
def test_is_url(text: str) -> None:
    assert fetch.is_url(text)
    assert not fetch.is_url("folder/http://x") and not fetch.is_url("ftp://x") and not fetch.is_url("report.pdf")


def test_download_html_text_and_pdf(server) -> None:
    page = fetch.download(server.url("/page.html"))
    assert page.data == PAGE and page.name == f"web/127.0.0.1_{server.url('').rsplit(':', 1)[1]}/page.html"
    assert fetch.download(server.url("/notes")).name.endswith("/notes.txt")
    assert fetch.download(server.url("/report.pdf")).data.startswith(b"%PDF")
    assert fetch.download(server.url("/download?id=7")).name.split("/")[-1].startswith("download-")


def test_a_declared_charset_is_stored_as_utf8(server) -> None:
    assert fetch.download(server.url("/cyrillic.txt")).data.decode("utf-8") == "Баку — порт."


def test_redirects_are_followed_to_http_only(server) -> None:
    moved = fetch.download(server.url("/moved"))
    assert moved.data == PAGE and moved.final_url.endswith("/page.html")
    assert moved.name.endswith("/moved.html"), "named after the URL asked for"
    with pytest.raises(SourceError, match=r"redirected to 'file:///etc/passwd'; only http and https"):
        fetch.download(server.url("/to-file"))
    with pytest.raises(SourceError, match="more than 5 redirects"):
        fetch.download(server.url("/loop"))


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/missing", ["404", "Not Found"]),
        ("/gone", ["410"]),
        ("/big-declared", ["MB limit"]),
        ("/big-streamed", ["passed the", "limit"]),
        ("/video.mp4", ["video/mp4", "cannot read"]),
    ],
)
def test_download_errors_name_the_url_in_one_line(server, path: str, words: list[str]) -> None:
    url = server.url(path)
    with pytest.raises(SourceError) as error:
        fetch.download(url, max_bytes=1000)
    message = str(error.value)
    assert message.startswith(f"{url}: ") and "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_a_slow_server_times_out(server) -> None:
    with pytest.raises(SourceError, match=r"no answer within 0.5 s"):
        fetch.download(server.url("/slow"), timeout=0.5)


def test_a_closed_port_and_bad_urls_are_one_line_errors() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError, match=rf"^http://127.0.0.1:{port}/x: cannot fetch it \(ConnectError"):
        fetch.download(f"http://127.0.0.1:{port}/x", timeout=2)
    for bad in ("http://", "ftp://example.org/x", "http://[::1"):
        with pytest.raises(SourceError, match=r"^\S*.*: (only http|not a valid URL)"):
            fetch.check_url(bad)
