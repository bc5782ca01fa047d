"""Receipt document → ESC/POS bytes: the one writer, python-escpos.

Every command comes from python-escpos (a ``Dummy`` printer collects the
bytes): the code page (``charcode``; ``ESC t n`` from the printer's
profile, or an explicit ``n`` for printers whose tables differ), text
attributes (``set``), QR and Code 128 symbols, and raster pictures
(``image``, ``GS v 0``). kopilka writes no ESC/POS sequence of its own.

Text goes out in one fixed code page (CP866 by default). A few
typographic characters CP866 lacks are replaced first; if anything still
cannot be encoded -- or the config says the printer's tables are wrong --
the text is drawn as a picture instead, which every ESC/POS printer prints.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from drivers._device import optional_import
from drivers._errors import PrinterError
from drivers._receipt import Block, Code, Line

log = logging.getLogger(__name__)

_REPLACE = str.maketrans({"«": '"', "»": '"', "—": "-", "–": "-", "…": "...", "“": '"', "”": '"', "’": "'",
                          "₽": "р."})
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


def dummy(profile: str | None = None) -> Any:
    """A python-escpos printer that only collects bytes (``.output``)."""
    return optional_import("escpos.printer").Dummy(profile=profile)


def init_bytes() -> bytes:
    """``ESC @``: reset the printer before a job."""
    p = dummy()
    p.hw("INIT")
    return bytes(p.output)


def cut_bytes() -> bytes:
    """Feed past the tear bar and cut."""
    p = dummy()
    p.cut(mode="FULL", feed=True)
    return bytes(p.output)


def drawer_bytes() -> bytes:
    """Open the cash drawer (pin 2)."""
    p = dummy()
    p.cashdraw(2)
    return bytes(p.output)


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
        self.codepage = codepage.upper()
        self.profile = profile
        self.columns = columns
        self.dots = dots
        self.as_image = as_image
        self.codepage_number = codepage_number
        if not as_image and codepage_number is None:
            try:
                code_page_number(self.codepage, profile)
            except PrinterError:
                log.warning("printer: %s not in profile %s; printing text as images", codepage, profile)
                self.as_image = True

    def _codec(self) -> str:
        return self.codepage.lower()

    def encode(self, blocks: Sequence[Block]) -> tuple[bytes, bool]:
        """Bytes of ``blocks`` (no init, no cut) and whether they went as an image."""
        if not self.as_image:
            try:
                return self._as_text(blocks), False
            except UnicodeEncodeError as exc:
                log.warning("printer: %s cannot encode %r; printing as image", self.codepage,
                            exc.object[exc.start : exc.end])
        return self._as_image(blocks), True

    def _start(self) -> Any:
        p = dummy(self.profile)
        if self.codepage_number is None:
            p.charcode(self.codepage)
        else:
            # A printer whose table numbers differ from its profile: the
            # number is the config's; python-escpos still encodes the text.
            p.magic.encoding = self.codepage
            p.magic.disabled = True
            p.magic.driver._raw(b"\x1bt" + bytes([self.codepage_number]))
        return p

    def _as_text(self, blocks: Sequence[Block]) -> bytes:
        for block in blocks:  # refuse before writing anything: all text or all picture
            if isinstance(block, Line):
                block.text.translate(_REPLACE).encode(self._codec())
        p = self._start()
        for block in blocks:
            if isinstance(block, Code):
                self._code(p, block)
                continue
            p.set(align=block.align, bold=block.bold, double_width=block.big, double_height=block.big,
                  normal_textsize=not block.big)
            p.text(block.text.translate(_REPLACE) + "\n")
        p.set(align="left", bold=False, normal_textsize=True)
        return bytes(p.output)

    @staticmethod
    def _code(p: Any, block: Code) -> None:
        p.set(align="center")
        if block.kind == "qr":
            p.qr(block.data, native=True, size=6)
        else:
            p.barcode("{B" + block.data, "CODE128", function_type="B", height=80, width=2, pos="BELOW")
        p.text("\n")
        p.set(align="left")

    def _as_image(self, blocks: Sequence[Block]) -> bytes:
        from PIL import Image, ImageDraw, ImageFont

        p = dummy(self.profile)
        pending: list[Line] = []

        def flush() -> None:
            if not pending:
                return
            cw = self.dots // self.columns
            heights = [48 if ln.big else 24 for ln in pending]
            img = Image.new("1", (self.dots, sum(heights)), 1)
            draw = ImageDraw.Draw(img)
            y = 0
            for ln, h in zip(pending, heights, strict=True):
                size = 40 if ln.big else 20
                font: ImageFont.FreeTypeFont | ImageFont.ImageFont
                try:
                    font = ImageFont.truetype(_FONT_BOLD if ln.bold else _FONT, size)
                except OSError:
                    font = ImageFont.load_default(size)
                width = len(ln.text) * cw * (2 if ln.big else 1)
                x = {"left": 0, "center": (self.dots - width) // 2, "right": self.dots - width}[ln.align]
                draw.text((max(0, x), y), ln.text, font=font, fill=0)
                y += h
            p.image(img, impl="bitImageRaster", center=False)
            pending.clear()

        for block in blocks:
            if isinstance(block, Code):
                flush()
                self._code(p, block)
            else:
                pending.append(block)
        flush()
        return bytes(p.output)
