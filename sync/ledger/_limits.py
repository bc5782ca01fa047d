"""Reading a request body with bounded memory (docs/ledger.md, "Input limits").

A JSON parser turns every ``{}`` into a Python dict of 64 bytes: 59 KiB of
gzip inflating to 60 MB of ``{}`` once held 1.6 GB of the ledger. So a body
goes through four gates, each before the next costs anything:

1. the raw bytes are read as a stream and refused past ``limit`` (also
   when ``Content-Length`` already says so): ``413 too_large``;
2. gzip is inflated as a stream, chunk by chunk, and refused as soon as
   the inflated size passes ``limit``: ``413 too_large`` (the bomb never
   exists in memory);
3. the structure is measured at C speed on the bytes (``bytes.count`` and
   ``bytes.translate``, no parsing): more than ``MAX_VALUES`` values is
   ``413 too_many_values``; nesting deeper than ``MAX_DEPTH`` is
   ``400 invalid``;
4. for an upload, the number of TXNs is counted without building them
   (msgspec decodes the envelope with each TXN kept as raw bytes):
   above ``MAX_BATCH`` is ``413 batch_too_large``.

The structure count includes brackets and commas inside strings, so it is
an upper bound: a real body only spends more of its budget. The depth is
measured by peeling innermost ``{}``/``[]`` pairs off the brackets, one
level per pass, at most ``MAX_DEPTH`` passes; a body whose brackets do not
pair up (brackets inside strings, unclosed garbage) is left to the parser,
whose own recursion guard (about 1,000 levels) is answered with the same
``400 invalid``. Only a string holding 65 balanced levels of brackets is
refused wrongly; no identifier or name does.
"""
from __future__ import annotations

import re
import zlib
from typing import Any

from starlette.requests import Request

from ._errors import RequestError

#: nesting deeper than this is refused before parsing (a TXN nests 6 deep)
MAX_DEPTH = 64
#: values (containers + commas) in one body: 32 MiB of 40-line TXNs is 2.3 M
MAX_VALUES = 2_500_000

_BRACKETS_ONLY = bytes(c for c in range(256) if c not in b"{}[]")
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_EMPTY_PAIR = re.compile(rb"\{\}|\[\]")

try:
    import msgspec

    class _Envelope(msgspec.Struct):
        transactions: list[msgspec.Raw] | None = None

    _envelope = msgspec.json.Decoder(_Envelope)
except ImportError:  # pragma: no cover - a dependency; the size limits still hold
    _envelope = None  # type: ignore[assignment]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, inflated if gzip, never holding more than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 15
                                                      or int(declared) > limit):
        raise RequestError("too_large", f"the body is larger than {limit} bytes")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip"):
        raise RequestError("unsupported_encoding", f"Content-Encoding {encoding!r}")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if encoding == "gzip" else None
    parts: list[bytes] = []
    received = size = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise RequestError("too_large", f"the body is larger than {limit} bytes")
        if inflater is None:
            parts.append(chunk)
            size = received
            continue
        data = chunk
        while data and not inflater.eof:
            try:
                out = inflater.decompress(data, limit + 1 - size)
            except zlib.error as exc:
                raise RequestError("bad_encoding", f"body is not valid gzip: {exc}") from exc
            size += len(out)
            if size > limit:
                raise RequestError("too_large",
                                   f"the decompressed body is larger than {limit} bytes")
            parts.append(out)
            data = inflater.unconsumed_tail
    if inflater is not None and not inflater.eof:
        raise RequestError("bad_encoding", "gzip body is truncated")
    return b"".join(parts)


def check_structure(raw: bytes) -> None:
    """Refuse a body with too many values or nested too deep, before parsing it."""
    values = raw.count(b",") + raw.count(b"{") + raw.count(b"[")
    if values > MAX_VALUES:
        raise RequestError("too_many_values",
                           f"the body holds more than {MAX_VALUES} JSON values")
    brackets = raw.translate(None, delete=_BRACKETS_ONLY)
    for _ in range(MAX_DEPTH + 1):
        if not brackets:
            return  # every level peeled within the limit
        brackets, removed = _EMPTY_PAIR.subn(b"", brackets)  # one level of innermost pairs
        if not removed:
            # Unbalanced leftovers: brackets in strings, or not JSON at all. The
            # parser decides, and its recursion guard answers deep garbage 400.
            return
    raise RequestError("invalid", f"the body nests deeper than {MAX_DEPTH} levels")


def count_transactions(raw: bytes) -> int | None:
    """How many TXNs the upload holds, without building them (None: let the parser decide)."""
    if _envelope is None:
        return None
    try:
        env = _envelope.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    return None if env.transactions is None else len(env.transactions)


def too_deep() -> RequestError:
    """The answer when the parser itself hits its recursion guard."""
    return RequestError("invalid", f"the body nests deeper than {MAX_DEPTH} levels")


def has_control(text: str) -> bool:
    """True when ``text`` holds U+0000–U+001F or U+007F (never valid in an identifier)."""
    return _CONTROL.search(text) is not None


def parse_json(raw: bytes, fast_loads: Any, slow_loads: Any) -> Any:
    """Parse with the fast parser, then the standard one; deep nesting is ``400 invalid``."""
    try:
        return fast_loads(raw)
    except ValueError:  # refused by the fast parser: the standard one decides
        pass
    except RecursionError as exc:
        raise too_deep() from exc
    try:
        return slow_loads(raw)
    except RecursionError as exc:
        raise too_deep() from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError("bad_json", f"the body is not JSON: {exc}") from exc
