"""Receipt document → ESC/POS bytes, through python-escpos.

Text goes out in one fixed code page (CP866 by default): ``ESC t n`` with
``n`` taken from the printer's python-escpos profile (or set explicitly for
printers whose tables differ), then the text encoded in that page. A few
typographic characters CP866 lacks are replaced; if anything still cannot be
encoded — or the config says the printer's tables are wrong — the receipt is
drawn as a picture (``GS v 0``) instead, which every ESC/POS printer prints.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from drivers._device import optional_import
from drivers._errors import PrinterError
from drivers._receipt import Block, Code, Line

log = logging.getLogger(__name__)

ESC_INIT = b"\x1b@"
_REPLACE = str.maketrans({"«": '"', "»": '"', "—": "-", "–": "-", "…": "...", "“": '"', "”": '"', "’": "'"})
_ALIGN = {"left": b"\x1ba\x00", "center": b"\x1ba\x01", "right": b"\x1ba\x02"}
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
_FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"


def code_page_number(codepage: str, profile: str | None = None, number: int | None = None) -> int:
    """``ESC t n`` for ``codepage`` on this printer profile."""
    if number is not None:
        return number
    caps = optional_import("escpos.capabilities")
    pages = caps.get_profile(profile).get_code_pages()
    if codepage.upper() not in pages:
        raise PrinterError("codepage", f"profile {profile or 'default'} has no {codepage}")
    return int(pages[codepage.upper()])


class Encoder:
    """Builds the bytes of a document for one printer's settings."""

    def __init__(
        self,
        *,
        codepage: str = "CP866",
        profile: str | None = None,
        codepage_number: int | None = None,
        as_image: bool = False,
        columns: int = 48,
        dots: int = 576,
    ) -> None:
        self.codepage = codepage.lower()
        self.profile = profile
        self.columns = columns
        self.dots = dots
        self.as_image = as_image
        self._page_number: int | None = None
        if not as_image:
            try:
                self._page_number = code_page_number(codepage, profile, codepage_number)
            except PrinterError:
                log.warning("printer: %s not in profile %s; printing text as images", codepage, profile)
                self.as_image = True

    def _dummy(self) -> object:
        printer = optional_import("escpos.printer")
        return printer.Dummy(profile=self.profile)

    def encode(self, blocks: Sequence[Block]) -> tuple[bytes, bool]:
        """Bytes of ``blocks`` (no init, no cut) and whether they went as an image."""
        if not self.as_image:
            try:
                return self._as_text(blocks), False
            except UnicodeEncodeError as exc:
                log.warning("printer: %s cannot encode %r; printing as image", self.codepage, exc.object[exc.start : exc.end])
        return self._as_image(blocks), True

    def _as_text(self, blocks: Sequence[Block]) -> bytes:
        assert self._page_number is not None
        out = bytearray(b"\x1bt" + bytes([self._page_number]))
        for block in blocks:
            if isinstance(block, Code):
                out += self._code(block)
                continue
            text = block.text.translate(_REPLACE).encode(self.codepage)
            out += _ALIGN[block.align]
            out += b"\x1bE\x01" if block.bold else b"\x1bE\x00"
            out += b"\x1d!\x11" if block.big else b"\x1d!\x00"
            out += text + b"\n"
        out += b"\x1bE\x00\x1d!\x00\x1ba\x00"
        return bytes(out)

    def _code(self, block: Code) -> bytes:
        p = self._dummy()
        if block.kind == "qr":
            p._raw(_ALIGN["center"])  # type: ignore[attr-defined]
            p.qr(block.data, native=True, size=6)  # type: ignore[attr-defined]
        else:
            data = block.data.encode("ascii")
            # GS H 2 (text below), GS h 80, GS w 2, GS k 73 n {B data
            p._raw(_ALIGN["center"] + b"\x1dH\x02\x1dh\x50\x1dw\x02\x1dkI" + bytes([len(data) + 2]) + b"{B" + data)  # type: ignore[attr-defined]
        p._raw(b"\n" + _ALIGN["left"])  # type: ignore[attr-defined]
        return bytes(p.output)  # type: ignore[attr-defined]

    def _as_image(self, blocks: Sequence[Block]) -> bytes:
        from PIL import Image, ImageDraw, ImageFont

        out = bytearray()
        pending: list[Line] = []

        def flush() -> None:
            if not pending:
                return
            cw = self.dots // self.columns
            heights = [48 if ln.big else 24 for ln in pending]
            img = Image.new("1", (self.dots, sum(heights)), 1)
            draw = ImageDraw.Draw(img)
            y = 0
            for ln, h in zip(pending, heights):
                size = 40 if ln.big else 20
                try:
                    font = ImageFont.truetype(_FONT_BOLD if ln.bold else _FONT, size)
                except OSError:
                    font = ImageFont.load_default(size)
                width = len(ln.text) * cw * (2 if ln.big else 1)
                x = {"left": 0, "center": (self.dots - width) // 2, "right": self.dots - width}[ln.align]
                draw.text((max(0, x), y), ln.text, font=font, fill=0)
                y += h
            out.extend(raster(img))
            pending.clear()

        for block in blocks:
            if isinstance(block, Code):
                flush()
                out += self._code(block)
            else:
                pending.append(block)
        flush()
        return bytes(out)


def raster(img: object) -> bytes:
    """``GS v 0`` for a 1-bit Pillow image (its white pixels stay blank)."""
    width = (img.width + 7) // 8  # type: ignore[attr-defined]
    height = img.height  # type: ignore[attr-defined]
    data = bytes(255 - b for b in img.convert("1").tobytes())  # type: ignore[attr-defined]
    header = b"\x1dv0\x00" + width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return header + data
