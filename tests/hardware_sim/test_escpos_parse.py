from __future__ import annotations

from hardware_sim._escpos_parse import Op, parse_all, parse_one

STREAM = (
    b"\x1b@\x1bt\x11" + "Привет".encode("cp866") + b"\n"
    b"\x1ba\x01\x1bE\x01\x1d!\x11AB\n"
    b"\x1dH\x02\x1dkI\x05{BR-1"
    b"\x1dk\x024607000000014\x00"
    b"\x1d(k\x03\x001C\x06\x1d(k\x06\x001P0R-2\x1d(k\x03\x001Q0"
    b"\x1dv0\x00\x01\x00\x02\x00\xff\x00"
    b"\x1bp\x00\x32\x32\x1bd\x04\x1dVA\x03\x1dV\x01\x10\x04\x04"
)


def _names(ops: list[Op]) -> list[str]:
    return [o.name for o in ops]


def _parse_split(data: bytes, i: int) -> list[Op]:
    """Feed like a socket would: the parser sees data[:i] first, then the rest."""
    buf = bytearray(data[:i])
    ops, pos = [], 0
    for more in (b"", data[i:]):
        buf += more
        while pos < len(buf):
            got = parse_one(buf, pos)
            if got is None:
                break
            op, pos = got
            ops.append(op)
    return ops


def test_every_command_is_recognised() -> None:
    assert _names(parse_all(STREAM)) == [
        "init", "codepage", "text", "newline", "align", "bold", "size", "text", "newline",
        "ignore", "barcode", "barcode", "qr_size", "qr_store", "qr_print", "image",
        "drawer", "feed", "cut", "cut", "status",
    ]


def test_split_at_every_byte_gives_the_same_ops() -> None:
    whole = parse_all(STREAM)
    for i in range(len(STREAM) + 1):
        ops = _parse_split(STREAM, i)
        # text may arrive in two pieces; join adjacent text runs before comparing
        assert _join(ops) == _join(whole), i


def _join(ops: list[Op]) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    for o in ops:
        if o.name == "text" and out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + o.data)
        else:
            out.append((o.name, o.data))
    return out


def test_incomplete_commands_wait_for_more() -> None:
    for head in (b"\x1b", b"\x1bt", b"\x1dk\x02123", b"\x1dkI\x05{B", b"\x1d(k\x06\x001P", b"\x1dv0\x00\x02\x00\x02\x00\xff",
                 b"\x1dV", b"\x1dVA", b"\x1b*\x00\x02\x00\x01", b"\x1d8L\x02\x00\x00"):
        assert parse_one(head, 0) is None, head


def test_unknown_commands_are_reported_not_fatal() -> None:
    ops = parse_all(b"\x1b\xfeAB\x1d\xfe\x01")
    assert _names(ops) == ["unknown", "text", "unknown", "unknown"]


def test_partial_cut_and_esc_i() -> None:
    assert [o.arg for o in parse_all(b"\x1dV\x00\x1dV\x01\x1bi\x1dVB\x00")] == [0, 1, 1, 1]


def test_bit_image_and_graphics_are_skipped_by_length() -> None:
    ops = parse_all(b"\x1b*\x21\x01\x00abc\x1d8L\x02\x00\x00\x00xyZ")
    assert _names(ops) == ["ignore", "ignore", "text"] and ops[-1].data == b"Z"
