"""What `regionqa serve` refuses, and why: the server's guards as ASGI middleware and one small policy.

- **Host header** (`HostGuard`): only a loopback name or address (`localhost`, `127.0.0.1`, `[::1]`),
  the address the server was bound to, or a name given with `--allow-host`. A web page of another
  site that re-points its DNS name at 127.0.0.1 (DNS rebinding) sends its own name as Host and gets
  421 and no data, so a browser cannot be used to read the index from outside.
- **Authentication** (`TokenGuard`): with `--token`, every request but the page's own three files
  needs `Authorization: Bearer TOKEN` or the session cookie the page gets from POST /session (the
  page reads the token from the address's #fragment, which browsers never send, and trades it
  for an HttpOnly, SameSite=Strict cookie, so links to /source/… work and no other site's page can
  send it). Compared in constant time. Binding an address other than loopback needs `--token` or
  an explicit `--no-auth` (`Guard.for_address`).
- **CORS**: off (browsers refuse cross-origin reads) unless `--cors ORIGIN` names an origin.
- **Bounds**: a request body over MAX_BODY_BYTES is refused with 413 before it is read whole
  (`BodyLimit`); at most `max_questions` questions are answered or waiting at once, beyond that 429.

Every refusal is in the API's one error shape, {"error": message}.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from . import render
from .contract import ErrorOut
from .errors import BadInputError

MAX_BODY_BYTES = 64 * 1024  # a question is at most MAX_QUESTION_CHARS (2,000) characters
MAX_QUESTIONS = 16  # answered or waiting at once; at ~15 ms a question, the last waits about a quarter of a second
MIN_TOKEN_CHARS = 16
SESSION_COOKIE = "regionqa_session"
# A Host header: a name, or an IPv6 address in brackets, then at most a port (RFC 3986's authority, no userinfo).
_HOST = re.compile(r"(?:\[(?P<address>[0-9a-f:.]+)\]|(?P<name>[^:\[\]@/\s]+))(?::(?P<port>[0-9]{0,5}))?")
PUBLIC_PATHS = frozenset({"/", "/static/app.js", "/static/style.css"})  # the page itself holds no data
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_TOKEN = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces: it travels in a header


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or name (only those are safe for an API without authentication)."""
    if host.lower().rstrip(".") == "localhost":
        return True
    address = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # "[::1]", never "[::1"
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name or address of a Host header, without its port: "[::1]:8765" -> "::1", "LocalHost.:80" -> "localhost".

    A header that is not a name (or a bracketed address) with at most a port after it ("[::1]evil.com",
    "localhost:evil.com", "[::1", a port over 65535) is returned whole, so that it matches no allowed name."""
    header = header.strip().lower()
    match = _HOST.fullmatch(header)
    if match is None or (match["port"] and int(match["port"]) > 65535):
        return header
    return match["address"] if match["address"] is not None else match["name"].rstrip(".")


@dataclass(frozen=True)
class Guard:
    """The server's policy: the token (None: no authentication), extra Host names, CORS origins, the question bound."""

    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_questions: int = MAX_QUESTIONS

    def __post_init__(self) -> None:
        if self.token is not None and (len(self.token) < MIN_TOKEN_CHARS or not _TOKEN.fullmatch(self.token)):
            raise BadInputError(
                f"--token must be at least {MIN_TOKEN_CHARS} printable ASCII characters without spaces; "
                'make one with: python -c "import secrets; print(secrets.token_urlsafe())"'
            )
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise BadInputError(f"--cors {origin!r} is not an origin; give scheme, host and port, e.g. --cors http://localhost:3000")
        if not 1 <= self.max_questions <= 1024:
            raise BadInputError(f"the question bound must be between 1 and 1024; got {self.max_questions}")

    @classmethod
    def for_address(
        cls, host: str, token: str | None = None, no_auth: bool = False, allow_hosts: tuple[str, ...] = (), cors: tuple[str, ...] = ()
    ) -> Guard:
        """The policy for serving on `host`: BadInputError when a non-loopback address has neither a token nor --no-auth.

        A specific address the server is bound to is a name clients use, so it is allowed as Host too.
        """
        if token == "":  # `--token "$TOKEN"` with TOKEN unset: no authentication where it was asked for
            raise BadInputError(
                "--token (or REGIONQA_TOKEN) is empty; give a token of at least "
                f'{MIN_TOKEN_CHARS} characters, e.g. python -c "import secrets; print(secrets.token_urlsafe())"'
            )
        if token and no_auth:
            raise BadInputError("--token and --no-auth contradict each other; give one")
        if not is_loopback(host) and not token and not no_auth:
            raise BadInputError(
                f"serving on {host}, not a loopback address, lets anyone who can reach it query the index; "
                "give --token TOKEN (clients send Authorization: Bearer TOKEN) or, on a trusted network, --no-auth"
            )
        names = [name.strip().lower().rstrip(".") for name in allow_hosts]
        if not is_loopback(host) and host not in ("0.0.0.0", "::"):
            names.append(host_name(host))
        return cls(token=token or None, allowed_hosts=tuple(dict.fromkeys(names)), cors_origins=tuple(cors))

    def allows_host(self, header: str | None) -> bool:
        if not header:
            return False
        name = host_name(header)
        return is_loopback(name) or name in self.allowed_hosts

    def session_value(self) -> str:
        """The cookie value for the page: derived from the token (the cookie never holds the token itself).

        The same for every process serving with that token, so that replicas behind one address
        (docs/scaling.md) accept each other's sessions; changing the token revokes them all."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"regionqa web session", hashlib.sha256).hexdigest()

    def authorised(self, headers: dict[bytes, bytes]) -> bool:
        """Whether a request's Authorization header or session cookie carries the token (constant-time comparisons)."""
        if self.token is None:
            return True
        given = headers.get(b"authorization", b"")
        bearer = given[7:].strip() if given[:7].lower() == b"bearer " else b""
        cookie = _cookie(headers.get(b"cookie", b""), SESSION_COOKIE.encode())
        # Both compared every time, so the time taken does not tell which one was tried.
        token_ok = hmac.compare_digest(bearer, self.token.encode())
        cookie_ok = hmac.compare_digest(cookie, self.session_value().encode())
        return token_ok or cookie_ok


def _cookie(header: bytes, name: bytes) -> bytes:
    for part in header.split(b";"):
        key, _, value = part.strip().partition(b"=")
        if key == name:
            return value
    return b""


async def refuse(send: Callable, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Send an error reply in the one shape, {"error": message}, and close the connection."""
    content = render.dumps(ErrorOut(error=message).dump()).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode()), (b"connection", b"close"), *headers]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": content})


class HostGuard:
    """ASGI middleware: 421 for a Host header that is not this server's (DNS rebinding), before anything else runs."""

    def __init__(self, app: Callable, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
            if not self.guard.allows_host(host):
                shown = host[:100] or "(none)"
                await refuse(
                    send,
                    421,
                    f"the Host header {shown!r} is not a name of this server; to serve under that name, start it with --allow-host NAME",
                )
                return
        await self.app(scope, receive, send)


class TokenGuard:
    """ASGI middleware: 401 without the token (or the page's session cookie), except for the page's own files."""

    def __init__(self, app: Callable, guard: Guard) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS and not self.guard.authorised(dict(scope.get("headers") or [])):
            message = "this server needs its token: send Authorization: Bearer TOKEN, or open the page at /#token=TOKEN"
            await refuse(send, 401, message, ((b"www-authenticate", b"Bearer"),))
            return
        await self.app(scope, receive, send)


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
        too_big = f"the request body is larger than {self.max_bytes:,} bytes"
        if declared is not None and not declared.isdigit():
            await refuse(send, 400, "the Content-Length header is not a number")
            return
        if declared is not None and int(declared) > self.max_bytes:
            await refuse(send, 413, too_big)
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
                await refuse(send, 413, too_big)
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
