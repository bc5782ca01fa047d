"""ESC/POS byte stream → operations, one command at a time.

Pure syntax: ``parse_one(buf, pos)`` reads the command starting at ``pos``
and returns ``(op, next_pos)``, or ``None`` when the command is not complete
yet (TCP delivers it in pieces). Text comes back as raw bytes; the printer
model decodes it with the code page in force, as the paper does.
"""
from __future__ import annotations

from dataclasses import dataclass

ESC, GS, DLE, FS = 0x1B, 0x1D, 0x10, 0x1C


@dataclass(frozen=True)
class Op:
    """One parsed command: ``name`` plus its arguments."""

    name: str
    arg: int = 0
    data: bytes = b""
    width: int = 0  # raster images: width in bytes
    height: int = 0


# commands with a fixed number of parameter bytes: (prefix, cmd) -> (op name, n params)
_FIXED: dict[tuple[int, int], tuple[str, int]] = {
    (ESC, ord("@")): ("init", 0),
    (ESC, ord("t")): ("codepage", 1),
    (ESC, ord("E")): ("bold", 1),
    (ESC, ord("G")): ("doublestrike", 1),
    (ESC, ord("-")): ("underline", 1),
    (ESC, ord("!")): ("mode", 1),
    (ESC, ord("a")): ("align", 1),
    (ESC, ord("d")): ("feed", 1),
    (ESC, ord("J")): ("feed_dots", 1),
    (ESC, ord("M")): ("font", 1),
    (ESC, ord("V")): ("ignore", 1),
    (ESC, ord("{")): ("ignore", 1),
    (ESC, ord("2")): ("ignore", 0),
    (ESC, ord("3")): ("ignore", 1),
    (ESC, ord(" ")): ("ignore", 1),
    (ESC, ord("R")): ("ignore", 1),
    (ESC, ord("r")): ("ignore", 1),
    (ESC, ord("=")): ("ignore", 1),
    (ESC, ord("%")): ("ignore", 1),
    (ESC, ord("c")): ("ignore", 2),
    (ESC, ord("$")): ("ignore", 2),
    (ESC, ord("i")): ("cut", 0),
    (ESC, ord("m")): ("cut", 0),
    (ESC, ord("p")): ("drawer", 3),
    (GS, ord("!")): ("size", 1),
    (GS, ord("B")): ("ignore", 1),
    (GS, ord("b")): ("ignore", 1),
    (GS, ord("H")): ("ignore", 1),
    (GS, ord("f")): ("ignore", 1),
    (GS, ord("h")): ("ignore", 1),
    (GS, ord("w")): ("ignore", 1),
    (GS, ord("a")): ("ignore", 1),
    (GS, ord("r")): ("ignore", 1),
    (GS, ord("I")): ("ignore", 1),
    (GS, ord("L")): ("ignore", 2),
    (GS, ord("W")): ("ignore", 2),
    (GS, ord("P")): ("ignore", 2),
    (DLE, 0x04): ("status", 1),
    (DLE, 0x05): ("ignore", 1),
    (DLE, 0x14): ("ignore", 3),
    (FS, ord(".")): ("ignore", 0),
    (FS, ord("&")): ("ignore", 0),
    (FS, ord("C")): ("ignore", 1),
}

#: GS k m for m <= 6 (NUL-terminated) and m >= 65 (length-prefixed)
BARCODE_TYPES = {
    0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR",
    65: "UPC-A", 66: "UPC-E", 67: "EAN13", 68: "EAN8", 69: "CODE39", 70: "ITF",
    71: "CODABAR", 72: "CODE93", 73: "CODE128",
}

# control bytes handled as single-byte ops
_SINGLE = {0x0A: "newline", 0x0D: "cr", 0x09: "tab", 0x0C: "formfeed"}


def parse_one(buf: bytes | bytearray, pos: int) -> tuple[Op, int] | None:
    """Parse the command at ``pos``; None when more bytes are needed."""
    n = len(buf)
    b = buf[pos]
    if b in (ESC, GS, DLE, FS):
        if pos + 1 >= n:
            return None
        cmd = buf[pos + 1]
        fixed = _FIXED.get((b, cmd))
        if fixed is not None:
            name, nparams = fixed
            end = pos + 2 + nparams
            if end > n:
                return None
            params = bytes(buf[pos + 2 : end])
            if name == "cut" and b == ESC:
                return Op("cut", 1), end
            return Op(name, params[0] if params else 0, params), end
        if b == GS:
            return _parse_gs(buf, pos, cmd)
        if b == ESC and cmd == ord("*"):
            return _parse_bit_image(buf, pos)
        return Op("unknown", b, bytes([b, cmd])), pos + 2
    if b in _SINGLE:
        return Op(_SINGLE[b]), pos + 1
    if b < 0x20:
        return Op("unknown", b, bytes([b])), pos + 1
    end = pos
    while end < n and buf[end] >= 0x20:
        end += 1
    return Op("text", data=bytes(buf[pos:end])), end


def _parse_gs(buf: bytes | bytearray, pos: int, cmd: int) -> tuple[Op, int] | None:
    n = len(buf)
    if cmd == ord("V"):  # cut: GS V m, or GS V m n for m in 65/66/97/98
        if pos + 2 >= n:
            return None
        m = buf[pos + 2]
        end = pos + 4 if m in (65, 66, 97, 98, 103, 104) else pos + 3
        if end > n:
            return None
        return Op("cut", 1 if m in (1, 49, 66, 98, 104) else 0), end
    if cmd == ord("k"):  # barcode
        if pos + 2 >= n:
            return None
        m = buf[pos + 2]
        if m <= 6:
            end = bytes(buf[pos + 3 :]).find(b"\x00")
            if end < 0:
                return None
            data = bytes(buf[pos + 3 : pos + 3 + end])
            return Op("barcode", m, data), pos + 3 + end + 1
        if pos + 3 >= n:
            return None
        length = buf[pos + 3]
        end = pos + 4 + length
        if end > n:
            return None
        return Op("barcode", m, bytes(buf[pos + 4 : end])), end
    if cmd == ord("("):  # GS ( X pL pH ...: QR (k) and graphics (L) and friends
        if pos + 4 >= n:
            return None
        fn_class = buf[pos + 2]
        length = buf[pos + 3] + 256 * buf[pos + 4]
        end = pos + 5 + length
        if end > n:
            return None
        body = bytes(buf[pos + 5 : end])
        if fn_class == ord("k") and len(body) >= 2 and body[0] == 49:  # cn 49: QR code
            fn = body[1]
            if fn == 80:  # store data: cn fn m d...
                return Op("qr_store", data=body[3:]), end
            if fn == 81:
                return Op("qr_print"), end
            if fn == 67:
                return Op("qr_size", body[2] if len(body) > 2 else 3), end
        return Op("ignore", fn_class, body), end
    if cmd == ord("v"):  # GS v 0 m xL xH yL yH d1..dk: raster image
        if pos + 7 >= n:
            return None
        if buf[pos + 2] != ord("0"):
            return Op("unknown", GS, bytes(buf[pos : pos + 3])), pos + 3
        width = buf[pos + 4] + 256 * buf[pos + 5]
        height = buf[pos + 6] + 256 * buf[pos + 7]
        end = pos + 8 + width * height
        if end > n:
            return None
        return Op("image", data=bytes(buf[pos + 8 : end]), width=width, height=height), end
    if cmd == ord("8") and pos + 2 < n and buf[pos + 2] == ord("L"):  # GS 8 L p1..p4
        if pos + 6 >= n:
            return None
        length = int.from_bytes(bytes(buf[pos + 3 : pos + 7]), "little")
        end = pos + 7 + length
        if end > n:
            return None
        return Op("ignore", cmd, bytes(buf[pos + 7 : end])), end
    return Op("unknown", GS, bytes([GS, cmd])), pos + 2


def _parse_bit_image(buf: bytes | bytearray, pos: int) -> tuple[Op, int] | None:
    if pos + 4 >= len(buf):
        return None
    m = buf[pos + 2]
    cols = buf[pos + 3] + 256 * buf[pos + 4]
    end = pos + 5 + cols * (1 if m in (0, 1) else 3)
    if end > len(buf):
        return None
    return Op("ignore", ord("*"), bytes(buf[pos + 5 : end])), end


def parse_all(data: bytes) -> list[Op]:
    """Every complete command in ``data`` (tests, tools); a torn tail is ignored."""
    ops, pos = [], 0
    while pos < len(data):
        got = parse_one(data, pos)
        if got is None:
            break
        op, pos = got
        ops.append(op)
    return ops
