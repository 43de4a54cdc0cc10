"""Fetch http(s) URLs as sources: the page or file, and the corpus name it is saved under.

A URL is saved as `web/<host>/<path-slug><suffix>` in the corpus folder, the suffix chosen by
the Content-Type the server sends (HTML, PDF, DOCX, PPTX, XLSX, CSV, EPUB, email, images, plain text,
Markdown, JSONL). Downloads have a timeout and a size cap, and redirects are followed only to other
http(s) URLs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from .errors import SourceError
from .sources import SUPPORTED_SUFFIXES, WEB_FOLDER
from .version import __version__

MAX_BYTES = 50 * 1024 * 1024  # a larger download is refused, not truncated
TIMEOUT_SECONDS = 30.0  # to connect, and between two reads
MAX_REDIRECTS = 5
SCHEMES = ("http", "https")
CONTENT_TYPES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/x-markdown": ".md",
    "application/jsonl": ".jsonl",
    "application/x-ndjson": ".jsonl",
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/epub+zip": ".epub",
    "message/rfc822": ".eml",
    "application/mbox": ".mbox",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/tiff": ".tif",
}
# Types that say nothing about the content: the URL's own suffix decides, if it is a supported one.
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/download", "application/force-download"}
TEXT_SUFFIXES = {".html", ".txt", ".md", ".jsonl", ".csv"}  # stored as UTF-8, whatever charset the server used


@dataclass(frozen=True)
class Download:
    url: str  # as asked for
    final_url: str  # after redirects
    name: str  # where it goes in the corpus: web/<host>/<slug><suffix>
    data: bytes
    content_type: str


def is_url(text: str) -> bool:
    """Whether a command-line argument is an http(s) URL rather than a path."""
    return re.match(r"(?i)https?://", text) is not None


def check_url(url: str) -> None:
    """Refuse anything but an absolute http(s) URL with a host, naming the bad value."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise SourceError(f"{url}: not a valid URL ({error})") from None
    if parsed.scheme not in SCHEMES or not parsed.host:
        raise SourceError(f"{url}: only http:// and https:// URLs with a host can be added")


def suffix_for(content_type: str, url_path: str, url: str, disposition: str = "") -> str:
    """The file suffix a download is saved with: from its media type; for a generic type such as
    application/octet-stream, from the file name in Content-Disposition or else the URL's path."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    if media in GENERIC_TYPES:
        named = re.search(r"filename\*?=(?:[\w-]+'[\w-]*')?\"?([^\";]+)", disposition)
        for candidate in (named.group(1) if named else "", url_path):
            suffix = PurePosixPath(candidate.strip()).suffix.lower()
            if suffix in SUPPORTED_SUFFIXES:
                return ".html" if suffix == ".htm" else suffix
    readable = "HTML, PDF, DOCX, PPTX, XLSX, CSV, EPUB, email, images (by OCR), plain text, Markdown and JSONL"
    raise SourceError(f"{url}: the server sent {media or 'no content type'}, which regionqa cannot read; it reads {readable}")


def corpus_name(url: str, suffix: str) -> str:
    """A safe corpus name for a URL: web/<host>[_<port>]/<path-slug><suffix>.

    The slug keeps the letters, digits, '.', '_' and '-' of the path ('/' becomes '-'); a query string,
    or a path too long for a file name, adds a short hash so that different URLs stay apart.
    Example: https://example.org/reports/2024/caspian.pdf?v=2 -> web/example.org/reports-2024-caspian-1a2b3c4d.pdf
    """
    import httpx

    parsed = httpx.URL(url)
    host = parsed.raw_host.decode("ascii").lower()  # IDNA form: plain ASCII
    if parsed.port is not None:
        host += f"_{parsed.port}"
    host = re.sub(r"[^a-z0-9.-]+", "_", host).strip("._") or "host"
    path = parsed.path.strip("/")
    known = PurePosixPath(path).suffix.lower()
    if known in SUPPORTED_SUFFIXES or known in {".php", ".asp", ".aspx", ".jsp"}:
        path = path[: -len(known)]
    slug = re.sub(r"[^\w.-]+", "-", path).strip(".-_") or "index"  # \w: letters of any script stay readable
    if parsed.query or len(slug) > 100:
        digest = hashlib.sha256(f"{parsed.path}?{parsed.query.decode('ascii', 'replace')}".encode()).hexdigest()[:8]
        slug = f"{slug[:100].rstrip('.-')}-{digest}"
    return f"{WEB_FOLDER}/{host}/{slug}{suffix}"


def download(url: str, timeout: float = TIMEOUT_SECONDS, max_bytes: int | None = None) -> Download:
    """Fetch a URL into memory, following at most MAX_REDIRECTS redirects to http(s) URLs.

    Raises SourceError, naming the URL, for a bad URL, an HTTP error status, a refused redirect,
    a download larger than `max_bytes` (default MAX_BYTES), an unreadable content type, a timeout
    or a failed connection.
    """
    import httpx

    check_url(url)
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    headers = {"User-Agent": f"regionqa/{__version__}", "Accept": "text/html, application/pdf, text/plain;q=0.9, */*;q=0.5"}
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, headers=headers) as client:
            target = httpx.URL(url)
            for _ in range(MAX_REDIRECTS + 1):
                with client.stream("GET", target) as response:
                    if not response.is_redirect:
                        return _read(response, url, max_bytes)
                    location = response.headers.get("location", "")
                if not location:
                    raise SourceError(
                        f"{url}: the server answered {response.status_code} without saying where to; add the final address instead"
                    )
                # Followed by hand, so that a redirect to file:, ftp: or the like is refused by name.
                target = response.url.join(location)
                if target.scheme not in SCHEMES:
                    raise SourceError(f"{url}: redirected to {location!r}; only http and https addresses are followed")
            raise SourceError(f"{url}: more than {MAX_REDIRECTS} redirects; add the final address instead")
    except httpx.TimeoutException:
        raise SourceError(f"{url}: no answer within {timeout:g} s; check the address or try again later") from None
    except httpx.HTTPError as error:
        raise SourceError(
            f"{url}: cannot fetch it ({type(error).__name__}: {' '.join(str(error).split())}); check the address and the connection"
        ) from None


def _read(response, url: str, max_bytes: int) -> Download:
    """The body of a final (non-redirect) response, within the size cap, as a Download."""
    if not response.is_success:
        raise SourceError(f"{url}: the server answered {response.status_code} {response.reason_phrase}".rstrip())
    limit = f"{max_bytes / 1_000_000:g} MB"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise SourceError(f"{url}: the file is {int(declared) / 1_000_000:.1f} MB, more than the {limit} limit")
    content_type = response.headers.get("content-type", "")
    suffix = suffix_for(content_type, response.url.path, url, response.headers.get("content-disposition", ""))
    parts: list[bytes] = []
    size = 0
    for part in response.iter_bytes():  # decompressed: the cap also stops a compression bomb
        size += len(part)
        if size > max_bytes:
            raise SourceError(f"{url}: the download passed the {limit} limit; it was stopped")
        parts.append(part)
    data = b"".join(parts)
    charset = response.charset_encoding
    if suffix in TEXT_SUFFIXES and charset and charset.lower().replace("_", "-") not in {"utf-8", "utf8", "us-ascii", "ascii"}:
        try:
            data = data.decode(charset, errors="replace").encode("utf-8")
        except LookupError:
            pass  # an unknown charset name: the reader's UTF-8 / Latin-1 decoding takes over
    return Download(url=url, final_url=str(response.url), name=corpus_name(url, suffix), data=data, content_type=content_type)
