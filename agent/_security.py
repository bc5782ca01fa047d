"""Who may drive the till (spec/till.md §3): the local API token and the
request guard in front of every route.

Why: the local API listens on loopback, but any web page the cashier's
browser opens can send requests to loopback, and a DNS name can be rebound
to 127.0.0.1. So, before any route runs:

- the ``Host`` header must name the till itself (``127.0.0.1:<port>``,
  ``localhost:<port>``, ``[::1]:<port>``), else 403 ``bad_host`` — for GETs
  too, since a rebound name would otherwise read the cashier page and its
  token;
- an ``Origin`` header, when present, must be the till's own origin, else
  403 ``bad_origin`` (``Origin: null`` included);
- a state-changing request (anything but GET/HEAD/OPTIONS) carries
  ``Authorization: Bearer <api token>``, else 401 ``no_token`` /
  ``bad_token``;
- a request body is ``application/json``, else 415 ``bad_media_type`` (a
  cross-origin ``<form>`` or ``text/plain`` fetch can never produce it
  without a CORS preflight, which the till never grants).

The token lives in ``<data_dir>/api-token`` with mode 0600, created at
first start whatever the process umask.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Awaitable, Callable

log = logging.getLogger(__name__)

TOKEN_FILE = "api-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def token_path(data_dir: Path) -> Path:
    """Where the till's local API token is kept."""
    return Path(data_dir) / TOKEN_FILE


def _valid(token: str) -> bool:
    return len(token) >= 32 and token.isascii() and all(c.isalnum() or c in "-_" for c in token)


def load_or_create_token(data_dir: Path) -> str:
    """The till's API token: read it, or make one at first start (mode 0600).

    A file readable by anyone else is put back to 0600 (logged); an empty or
    damaged file is replaced. The file is written through ``os.open`` with an
    explicit mode and ``fchmod``, so the process umask never widens it.
    """
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = token_path(folder)
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_IMODE(st.st_mode) & 0o077:
            log.warning("%s was readable by others (mode %o); set back to 0600", path, stat.S_IMODE(st.st_mode))
            os.chmod(path, 0o600)
        token = path.read_text(encoding="ascii", errors="replace").strip()
        if _valid(token):
            return token
        log.warning("%s is damaged; a new API token is made (update the POS)", path)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (token + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    log.info("local API token created in %s", path)
    return token


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _own_port(scope: Scope) -> int | None:
    server = scope.get("server")
    if server and len(server) >= 2 and server[1] is not None:
        return int(server[1])
    return None


def allowed_hosts(port: int) -> frozenset[str]:
    """The ``Host`` values that name this till on ``port``."""
    return frozenset(f"{name}:{port}" for name in _LOOPBACK_NAMES)


def allowed_origins(port: int) -> frozenset[str]:
    """The till's own origins on ``port`` (the page may be opened by name or address)."""
    return frozenset(f"http://{name}:{port}" for name in _LOOPBACK_NAMES)


def is_json(content_type: str | None) -> bool:
    """``application/json`` with or without parameters (``; charset=utf-8``)."""
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


class RequestGuard:
    """ASGI middleware enforcing the rules of the module docstring.

    ``token`` is the API token; ``None`` disables only the token check (a
    till built without a data folder, e.g. a unit test of a route) — Host,
    Origin and media-type checks always apply.
    """

    def __init__(self, app: ASGIApp, token: str | None, csp: str = "default-src 'none'") -> None:
        self.app = app
        self.token = token
        self.headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                        (b"content-security-policy", csp.encode("ascii"))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.check(scope)
        if refusal is not None:
            status, reason, message, field = refusal
            log.warning("local API refused %s %s: %s", scope.get("method"), scope.get("path"), reason)
            await _send_json(send, status, {"error": reason, "message": message, "field": field}, self.headers)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), *self.headers])
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def check(self, scope: Scope) -> tuple[int, str, str, str] | None:
        """``(status, reason, message, field)`` of the first rule broken, or None."""
        port = _own_port(scope)
        host = (_header(scope, b"host") or "").strip().lower()
        if port is None or host not in allowed_hosts(port):
            return 403, "bad_host", "the till answers only to 127.0.0.1 or localhost with its port", "Host"
        origin = _header(scope, b"origin")
        if origin is not None and origin.strip().lower() not in allowed_origins(port):
            return 403, "bad_origin", "requests from other web pages are refused", "Origin"
        if scope.get("method", "GET") in _SAFE_METHODS:
            return None
        if self.token is not None:
            auth = _header(scope, b"authorization")
            if auth is None:
                return 401, "no_token", "the local API token is required (Authorization: Bearer ...)", "Authorization"
            scheme, _, given = auth.strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
                return 401, "bad_token", "the local API token is wrong (kopilka agent token prints it)", "Authorization"
        content_type = _header(scope, b"content-type")
        length = _header(scope, b"content-length")
        chunked = "chunked" in (_header(scope, b"transfer-encoding") or "").lower()
        has_body = chunked or (length is not None and length.strip() not in ("", "0"))
        if (content_type is not None or has_body) and not is_json(content_type):
            return 415, "bad_media_type", "request bodies must be application/json", "Content-Type"
        return None


async def _send_json(send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
        (b"cache-control", b"no-store"), *extra,
    ]})
    await send({"type": "http.response.body", "body": raw})
