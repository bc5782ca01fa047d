"""Turn the bytes a decoder read into the text of a customer code, UTF-8 only.

Customer codes (``spec/token.md``) are ASCII, and anything the app ever puts
in a QR code is UTF-8. Two things go wrong on the way:

- zbar does not hand back the bytes of a QR byte segment: without an ECI
  header it *guesses* their encoding (Shift-JIS, ISO-8859-1 or UTF-8) and
  converts to UTF-8 from its guess. UTF-8 ``café`` comes back as ``caf矇``
  (the two bytes of ``é`` read as one Big5 hanzi), ``Zoë €`` as
  half-width katakana. ``repair_zbar_text`` undoes the guess: if the text
  re-encoded in the encoding zbar guessed is valid, non-ASCII UTF-8, those
  bytes were UTF-8 all along.
- a code may hold bytes that are not UTF-8 at all (a latin-1 or Shift-JIS
  label, binary data). Those are rejected with a reason, never passed on as
  mojibake. zxing-cpp returns the raw bytes, so there the check is exact;
  zbar's output is already transcoded, so a genuinely latin-1 code read by
  zbar alone cannot be told apart from its UTF-8 twin (zxing-cpp runs first
  in the default chain for this reason too).

Control characters (other than a trailing line ending, which the token
parser strips) are rejected as well: no customer code contains them and a
payload that does is a misread.
"""
from __future__ import annotations

import unicodedata

from drivers._errors import PayloadRejected

__all__ = ["clean_payload", "repair_zbar_text"]

#: encodings zbar guesses for a QR byte segment without ECI, tried in turn
_ZBAR_GUESSES = ("shift_jis", "big5", "latin-1", "cp1252")


def repair_zbar_text(text: str) -> str:
    """Undo zbar's encoding guess when the text is UTF-8 read as something else."""
    if text.isascii():
        return text
    for encoding in _ZBAR_GUESSES:
        try:
            raw = text.encode(encoding)
        except UnicodeEncodeError:
            continue
        if raw.isascii():
            continue
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
    return text


def _check_text(text: str) -> str:
    if not text:
        raise PayloadRejected("empty")
    body = text.rstrip("\r\n")
    if any(unicodedata.category(ch) == "Cc" for ch in body):
        raise PayloadRejected("control_character")
    return text


def clean_payload(raw: bytes, *, transcoded_by_zbar: bool = False) -> str:
    """The payload text, or ``PayloadRejected`` (``not_utf8``, ``empty``, ``control_character``).

    ``raw`` is what the decoder returned: the symbol's own bytes (zxing-cpp),
    or zbar's UTF-8 transcoding of its guess (``transcoded_by_zbar=True``).
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadRejected("not_utf8") from exc
    if transcoded_by_zbar:
        text = repair_zbar_text(text)
    return _check_text(text)
