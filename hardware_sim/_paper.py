"""One receipt's worth of paper: collect what the printer puts on it, render it.

The printer model calls ``text``/``newline``/``barcode``/``qr``/``image``
while it interprets the ESC/POS stream; at a cut, ``finish`` produces the
receipt as a person reads it (UTF-8 text, alignment applied on a fixed
column width) and as a picture (PNG: text in a monospace font, real QR and
Code 128 symbols, raster images as sent).
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DOTS = 576  # 80 mm paper at 203 dpi
_FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
_LINE = 24  # dots per text line at normal height


@dataclass
class Style:
    """Text attributes in force (ESC E / ESC - / ESC ! / GS ! / ESC a)."""

    bold: bool = False
    underline: bool = False
    width: int = 1
    height: int = 1
    align: int = 0  # 0 left, 1 centre, 2 right


@dataclass(frozen=True)
class Receipt:
    """A receipt as it came out of the printer, split at its cut."""

    index: int
    text: str
    png: bytes | None
    raw: bytes
    barcodes: list[tuple[str, str]] = field(default_factory=list)
    qrs: list[str] = field(default_factory=list)
    images: int = 0
    cut: str = "full"


class Page:
    """The paper between two cuts."""

    def __init__(self, columns: int = 48) -> None:
        self.columns = columns
        self._items: list[tuple[str, Any, Style]] = []  # (kind, payload, style)
        self._segments: list[tuple[str, Style]] = []
        self._line_style = Style()
        self.barcodes: list[tuple[str, str]] = []
        self.qrs: list[str] = []
        self.images = 0

    @property
    def empty(self) -> bool:
        """Nothing printed on this page yet."""
        return not self._items and not self._segments

    def text(self, s: str, style: Style) -> None:
        """Characters on the current line."""
        if not self._segments:
            self._line_style = Style(**vars(style))
        self._segments.append((s, Style(**vars(style))))

    def newline(self) -> None:
        """End the current line (an empty line feeds paper)."""
        self._items.append(("line", self._segments, self._line_style))
        self._segments = []

    def _flush(self) -> None:
        if self._segments:
            self.newline()

    def barcode(self, kind: str, data: str, style: Style) -> None:
        """A 1-D barcode symbol."""
        self._flush()
        self.barcodes.append((kind, data))
        self._items.append(("barcode", (kind, data), Style(**vars(style))))

    def qr(self, data: str, module: int, style: Style) -> None:
        """A QR symbol."""
        self._flush()
        self.qrs.append(data)
        self._items.append(("qr", (data, module), Style(**vars(style))))

    def image(self, data: bytes, width: int, height: int, style: Style) -> None:
        """A raster image (GS v 0): ``width`` bytes per row, 1 bits are black."""
        self._flush()
        self.images += 1
        self._items.append(("image", (data, width, height), Style(**vars(style))))

    # -- rendering ---------------------------------------------------------------
    def render_text(self) -> str:
        """The page as a person reads it."""
        self._flush()
        out = []
        for kind, payload, style in self._items:
            if kind == "line":
                line = "".join(s for s, _ in payload)
                visual = sum(len(s) * st.width for s, st in payload)
                out.append(self._align(line, visual, style.align))
            elif kind == "barcode":
                out.append(self._align(f"[{payload[0]}: {payload[1]}]", None, style.align))
            elif kind == "qr":
                out.append(self._align(f"[QR: {payload[0]}]", None, style.align))
            else:
                _, w, h = payload
                out.append(self._align(f"[image {w * 8}x{h}]", None, style.align))
        while out and not out[-1]:
            out.pop()
        return "\n".join(out) + "\n"

    def _align(self, line: str, visual: int | None, align: int) -> str:
        pad = max(0, self.columns - (len(line) if visual is None else visual))
        if align == 1:
            line = " " * (pad // 2) + line
        elif align == 2:
            line = " " * pad + line
        return line.rstrip()

    def render_png(self) -> bytes:
        """The page as a picture, PNG bytes."""
        from PIL import Image

        self._flush()
        parts = [self._render_item(kind, payload, style) for kind, payload, style in self._items]
        height = sum(p.height for p, _ in parts) + 16
        page = Image.new("L", (DOTS, max(height, 32)), 255)
        y = 8
        for img, align in parts:
            x = {0: 0, 1: (DOTS - img.width) // 2, 2: DOTS - img.width}.get(align, 0)
            page.paste(img, (max(0, x), y))
            y += img.height
        buf = io.BytesIO()
        page.save(buf, "PNG")
        return buf.getvalue()

    def _render_item(self, kind: str, payload: Any, style: Style) -> tuple[Any, int]:
        from PIL import Image, ImageDraw

        if kind == "line":
            h = _LINE * max((st.height for _, st in payload), default=1)
            img = Image.new("L", (DOTS, h), 255)
            draw = ImageDraw.Draw(img)
            visual = sum(len(s) * st.width for s, st in payload)
            col = {1: (48 - visual) // 2, 2: 48 - visual}.get(style.align, 0) if self.columns == 48 else 0
            x = max(0, col) * (DOTS // 48)
            for s, st in payload:
                font = _font(st.bold, st.width, st.height)
                draw.text((x, h - _LINE * st.height), s, font=font, fill=0)
                w = len(s) * st.width * (DOTS // 48)
                if st.underline:
                    draw.line((x, h - 2, x + w, h - 2), fill=0, width=2)
                x += w
            return img, 0
        if kind == "qr":
            return _qr_image(payload[0], payload[1]), style.align
        if kind == "barcode":
            return _barcode_image(payload[0], payload[1]), style.align
        data, w, h = payload
        img = Image.frombytes("1", (w * 8, h), bytes(255 - b for b in data)).convert("L")
        return img, style.align


_FONTS: dict[tuple[bool, int, int], Any] = {}


def _font(bold: bool, width: int, height: int) -> Any:
    from PIL import ImageFont

    key = (bold, width, height)
    if key not in _FONTS:
        name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
        size = 20 * max(width, height)
        try:
            _FONTS[key] = ImageFont.truetype(_FONT_DIR + name, size)
        except OSError:
            _FONTS[key] = ImageFont.load_default(size)
    return _FONTS[key]


def _qr_image(data: str, module: int) -> Any:
    import segno
    from PIL import Image

    qr = segno.make(data, error="m", micro=False)
    rows = [bytes(0 if v else 255 for v in row) for row in qr.matrix_iter(scale=max(1, module), border=2)]
    return Image.frombytes("L", (len(rows[0]), len(rows)), b"".join(rows))


_SYMBOLOGIES = {"CODE128": "code128", "EAN13": "ean13", "EAN8": "ean8", "UPC-A": "upca", "CODE39": "code39"}


def _barcode_image(kind: str, data: str) -> Any:
    # python-barcode is a declared dependency: its absence is an error, not a
    # placeholder. Only a symbology or data it cannot draw gets the placeholder.
    import barcode
    from barcode.errors import BarcodeError
    from barcode.writer import ImageWriter
    from PIL import Image, ImageDraw

    name = _SYMBOLOGIES.get(kind)
    if name is not None:
        text = data[2:] if kind == "CODE128" and data[:1] == "{" else data
        try:
            sym = barcode.get(name, text, writer=ImageWriter())
        except BarcodeError as exc:
            log.debug("barcode %s %r not drawable: %s", kind, data, exc)
        else:
            img = sym.render({"module_width": 0.25, "module_height": 8.0, "dpi": 203, "font_size": 8, "quiet_zone": 2.0})
            img = img.convert("L")
            if img.width > DOTS:
                img = img.resize((DOTS, img.height))
            return img
    img = Image.new("L", (DOTS, _LINE * 2), 255)
    ImageDraw.Draw(img).text((8, 8), f"|||| {data} ||||", fill=0, font=_font(False, 1, 1))
    return img
