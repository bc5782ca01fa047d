"""Validation of one uploaded TXN (docs/sync-protocol.md, "TXN").

A TXN that fails here is answered ``rejected`` / ``invalid`` with a
``detail`` naming the field; it is never half-applied. Its shape is the
``_schemas.Txn`` Struct (msgspec converts the decoded TXN, so the OpenAPI
document states the same rules); here stays what a schema cannot say:
the UUID and instant readings, reserved accounts, a sale's bonus within
its points, a return's lines, every number and text inside ``basket``
and ``claims``, the line quantities' values. The ``hash`` is
recomputed with the till's own chain function, so a body altered in
transit (or by a buggy till) is refused rather than stored under a hash
that does not describe it.
"""
from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from fastcore import MAX_INT, ean13_valid, is_int, parse_instant, parse_qty_milli

from sync import canonical_json, is_provisional, provisional_account

from . import _schemas
from ._errors import TxnInvalid
from ._fastjson import canonical_if_hashes

_QTY = re.compile(r"([0-9]{1,16})(?:\.([0-9]{1,16}))?\Z")
#: the deepest nesting a TXN may have (a real one is about 5 deep)
MAX_DEPTH = 64
#: canonical text with at most this many ``[``/``{`` cannot nest deeper than MAX_DEPTH
_SHALLOW = MAX_DEPTH
#: 16 digits in a row: a number that may be past 2^53 − 1 (or digits inside a string);
#: found by mapping every digit to 0 (bytes.translate and a substring search are
#: C loops; a regex took 40 µs a TXN)
_DIGITS_TO_0 = bytes.maketrans(b"123456789", b"000000000")
_SIXTEEN = b"0" * 16


@dataclass(frozen=True)
class Txn:
    """A validated TXN and the facts the ledger keys on."""

    raw: dict[str, Any]
    txn_id: str
    till: str
    store: str
    seq: int
    kind: str
    at: str
    account: str | None
    card: str | None
    hold_id: str | None
    bundle_version: int
    hash: str
    original_txn_id: str | None
    returned: tuple[tuple[int, int], ...]  # (line, qty_milli)
    canonical: str  # canonical JSON of the TXN without "hash" (what the hash covers)
    #: a return: the till of the sale it names (``original_till``, default its own till)
    original_till: str | None = None
    #: a sale: the points it accrues and redeems (member or not), checked against bounds
    points: int = 0
    redeemed_points: int = 0
    welcome: int = 0
    birthday: int = 0
    #: a sale: the largest line quantity in thousandths (result and basket)
    max_qty_milli: int = 0
    max_qty_field: str = ""


def qty_milli(value: Any) -> int | None:
    """Exact thousandths (``fastcore.parse_qty_milli``) of a JSON integer up to
    2^53 − 1 thousandths or a decimal string of at most 16 + 16 digits, or None."""
    if is_int(value):
        return parse_qty_milli(value) if value <= MAX_INT // 1000 else None
    if not isinstance(value, str) or not _QTY.match(value):
        return None
    return parse_qty_milli(value)


def _leaf(value: Any) -> str | None:
    """Why a scalar breaks the TXN rules, or None."""
    kind = type(value)
    if kind is str:
        if "\x00" in value:
            return "text must not contain NUL characters"
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "text must be valid Unicode (no lone surrogates)"
    elif kind is int:
        if not 0 <= value <= MAX_INT:
            return "an integer in 0 … 2^53 − 1 is required"
    elif kind is float and not math.isfinite(value):
        return "a finite number is required"
    return None


def _scan(value: Any, depth: int) -> tuple[list[str], str] | None:
    """The first value outside the TXN rules, as (reversed path parts, detail), or None.

    Every integer in 0 … 2^53 − 1, no NaN/infinity, no NUL and no lone
    surrogate in any text value (PostgreSQL stores neither; nothing a till
    sends needs them), at most ``MAX_DEPTH`` levels. Object keys are not
    checked: they are only ever stored inside the escaped JSON body. The
    depth is checked before descending, so the recursion stays shallow; the
    common leaves are checked inline (this runs on every uploaded TXN).
    (A float is allowed where the ledger reads nothing; every figure it
    reads is checked to be an integer where it is read.)
    """
    if depth >= MAX_DEPTH:
        return [], f"nested deeper than {MAX_DEPTH} levels"
    is_dict = type(value) is dict
    for key, item in (value.items() if is_dict else enumerate(value)):
        kind = type(item)
        if kind is str:
            if item.isascii() and "\x00" not in item:
                continue
        elif kind is int:
            if 0 <= item <= MAX_INT:
                continue
        elif kind is dict or kind is list:
            if not item:
                continue
            bad = _scan(item, depth + 1)
            if bad is None:
                continue
            bad[0].append(f".{key}" if is_dict else f"[{key}]")
            return bad
        elif kind is not float:
            continue  # None, True, False
        detail = _leaf(item)
        if detail is not None:
            return [f".{key}" if is_dict else f"[{key}]"], detail
    return None


def _scan_numbers(value: Any, depth: int) -> bool:
    """``_scan`` without the text checks: True when every number and the depth are fine.

    Used when the canonical text already shows no NUL and no lone surrogate
    (every non-ASCII character is escaped there), which is the usual TXN:
    half of its values are text, and this walk skips them.
    """
    if depth >= MAX_DEPTH:
        return False
    is_dict = type(value) is dict
    for _key, item in (value.items() if is_dict else enumerate(value)):
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is int:
            if 0 <= item <= MAX_INT:
                continue
            return False
        if kind is dict or kind is list:
            if item and not _scan_numbers(item, depth + 1):
                return False
            continue
        if kind is float and math.isfinite(item):
            continue
        return False
    return True


def check_values(txn: dict[str, Any], canonical: str | None = None) -> None:
    """Raise ``TxnInvalid`` naming the first value outside the TXN rules (``_scan``).

    With the TXN's canonical text (ASCII, every other character escaped)
    free of ``\\u0000`` and ``\\ud…`` escapes, the text checks are known to
    pass and only numbers and depth are walked; the exact walk runs only
    to name the path of a fault.
    """
    if (canonical is not None and "\\u0000" not in canonical and "\\ud" not in canonical
            and "Infinity" not in canonical and "NaN" not in canonical):
        # In compact canonical JSON a negative number follows ``:``, ``,`` or ``[``,
        # and a number past 2^53 − 1 has 16 digits or more; few enough brackets
        # bound the depth: nothing is left to walk.
        if (":-" not in canonical and ",-" not in canonical and "[-" not in canonical
                and canonical.count("{") + canonical.count("[") <= _SHALLOW
                and _SIXTEEN not in canonical.encode("ascii").translate(_DIGITS_TO_0)):
            return
        if _scan_numbers(txn, 0):
            return
    bad = _scan(txn, 0)
    if bad is not None:
        parts, detail = bad
        path = "".join(reversed(parts)).lstrip(".")
        raise TxnInvalid("invalid", detail, path)


_QTY_SEEN: dict[str, int] = {}


def _line_qty(value: Any) -> int | None:
    """``qty_milli`` of a result line's quantity text, remembered (a few distinct values)."""
    if type(value) is not str:
        return qty_milli(value)
    known = _QTY_SEEN.get(value)
    if known is None:
        known = qty_milli(value)
        if known is not None and len(_QTY_SEEN) < 4096:
            _QTY_SEEN[value] = known
    return known


def _basket_qty(basket: dict[str, Any], top: int, where: str) -> tuple[int, str]:
    """The largest readable basket line quantity (unreadable ones are the audit's business)."""
    lines = basket.get("lines")
    if not isinstance(lines, list):
        return top, where
    for i, line in enumerate(lines):
        if not isinstance(line, dict):
            continue
        value = line.get("qty")
        if type(value) is float:
            q = int(value * 1000) if value < 2 ** 63 else MAX_INT + 1
        elif is_int(value):
            q = value * 1000
        elif isinstance(value, str):
            q = qty_milli(value) or 0
            head = value.split(".", 1)[0]
            if not q and head.isascii() and head.isdigit() and len(head) > 9:
                q = MAX_INT + 1  # too long to be read as a quantity at all
        else:
            q = 0
        if q > top:
            top, where = q, f"basket.lines[{i}].qty"
    return top, where


def _shape(txn: Any) -> _schemas.Txn:
    """``txn`` as the ``_schemas.Txn`` Struct, or ``TxnInvalid`` naming msgspec's field."""
    try:
        return msgspec.convert(txn, _schemas.Txn, strict=True)
    except msgspec.ValidationError as exc:
        raise TxnInvalid("invalid", str(exc).split(" - at `", 1)[0],
                         _schemas.field_of(exc)) from exc
    except UnicodeEncodeError as exc:  # msgspec cannot read a lone surrogate: name its path
        check_values(txn)
        raise TxnInvalid("invalid", "text must be valid Unicode (no lone surrogates)",
                         "") from exc


def _line_quantities(result: _schemas.Priced) -> tuple[int, str]:
    """Each result line's quantity read (> 0); the largest (thousandths) and its path."""
    top, where = 0, ""
    for i, line in enumerate(result.lines):
        q = _line_qty(line.qty)
        if q is None or q <= 0:
            raise TxnInvalid("invalid", "a decimal string > 0 with at most 3 "
                             "decimals is required", f"result.lines[{i}].qty")
        if q > top:
            top, where = q, f"result.lines[{i}].qty"
    return top, where


def _sale_figures(result: _schemas.Priced) -> _schemas.Totals:
    """A sale's totals, present and with welcome + birthday within its points."""
    totals, bonus = result.totals, result.bonus
    if totals is None:
        raise TxnInvalid("invalid", "an object is required", "result.totals")
    if bonus is not None and bonus.welcome + bonus.birthday > totals.points:
        raise TxnInvalid("invalid", "welcome and birthday points exceed totals.points",
                         "result.bonus")
    return totals


def _returned(shape: _schemas.Txn) -> tuple[tuple[int, int], ...]:
    """A return's (line, thousandths) pairs: at least one, each line once, each qty > 0."""
    if shape.original_txn_id is None:
        raise TxnInvalid("invalid", "a non-empty string is required", "original_txn_id")
    if not shape.returned:
        raise TxnInvalid("invalid", "a non-empty list is required", "returned")
    out: dict[int, int] = {}
    for i, item in enumerate(shape.returned):
        q = qty_milli(item.qty)
        if q is None or q <= 0:
            raise TxnInvalid("invalid", "a decimal string > 0 is required", f"returned[{i}].qty")
        if item.line in out:
            raise TxnInvalid("invalid", f"line {item.line} is named twice", f"returned[{i}].line")
        out[item.line] = q
    return tuple(out.items())


def _provisional_shape(customer: _schemas.Customer | None) -> None:
    """A till-made ``P-`` account (docs/enrolment.md) is the one its card derives."""
    if customer is None or not is_provisional(customer.account):
        return
    if customer.card is None or not ean13_valid(customer.card):
        raise TxnInvalid("invalid", "a provisional account comes with its card", "customer.card")
    if customer.account != provisional_account(customer.card):
        raise TxnInvalid("invalid", "not the provisional account of this card", "customer.account")


def _enrol_shape(shape: _schemas.Txn) -> None:
    """An ``enrol`` TXN: a card with a valid check digit and its provisional account."""
    customer = shape.customer
    if customer is None or customer.card is None:
        raise TxnInvalid("invalid", "an enrolment names its card", "customer.card")
    if not ean13_valid(customer.card):
        raise TxnInvalid("invalid", "the check digit is wrong", "customer.card")
    if customer.account != provisional_account(customer.card):
        raise TxnInvalid("invalid", "not the provisional account of this card", "customer.account")
    if shape.result.lines or shape.hold_id is not None:
        raise TxnInvalid("invalid", "an enrolment sells nothing", "result.lines")


def validate(txn: Any) -> Txn:
    """Check one TXN's shape (``_schemas.Txn``), its cross-field rules and hash.

    Raise ``TxnInvalid`` naming the field. The shape's rules (types, the
    bounds 0 … 2^53 − 1, identifiers, enums) are msgspec's; here stays what
    a schema cannot say.
    """
    shape = _shape(txn)
    try:
        uuid.UUID(shape.txn_id)
    except ValueError as exc:
        raise TxnInvalid("invalid", "a UUID string is required", "txn_id") from exc
    if parse_instant(shape.at) is None:
        raise TxnInvalid("invalid", "an ISO-8601 instant with offset is required", "at")
    customer = shape.customer
    account = card = None
    _provisional_shape(customer)
    if customer is not None:
        account, card = customer.account, customer.card
        if account is None and card is None:
            raise TxnInvalid("invalid", "a non-empty string is required", "customer.account")
        if account is not None and account.startswith(("anon:", "card:")):
            raise TxnInvalid("invalid", "'anon:' and 'card:' accounts are reserved",
                             "customer.account")
    original = original_till = None
    returned: tuple[tuple[int, int], ...] = ()
    points = redeemed = welcome = birthday = top = 0
    where = ""
    if shape.kind == "sale":
        totals, bonus = _sale_figures(shape.result), shape.result.bonus
        top, where = _basket_qty(txn["basket"], *_line_quantities(shape.result))
        points, redeemed = totals.points, totals.redeemed_points
        if bonus is not None:
            welcome, birthday = bonus.welcome, bonus.birthday
    elif shape.kind == "enrol":
        _enrol_shape(shape)
    else:  # a return's lines are read too, but not held to the sale ceilings
        _line_quantities(shape.result)
        returned = _returned(shape)
        original, original_till = shape.original_txn_id, shape.original_till or shape.till
    # Every number and text anywhere (basket, claims) is checked on the canonical
    # text and the decoded TXN before the hash is compared.
    body = {k: v for k, v in txn.items() if k != "hash"}
    try:
        canonical = canonical_if_hashes(body, shape.prev_hash, shape.hash)
    except RecursionError:
        canonical = None
    hashed = canonical is not None
    if canonical is None:  # the till's own chain function (sync._hashchain.txn_hash)
        try:
            canonical = canonical_json(body)
        except (TypeError, ValueError, RecursionError) as exc:
            check_values(txn)  # the precise reason, when it is one of the value rules
            raise TxnInvalid("invalid", f"cannot hash the body: {exc}", "hash") from exc
    check_values(txn, canonical)
    if not hashed:
        expected = hashlib.sha256((shape.prev_hash + canonical).encode("utf-8")).hexdigest()
        if expected != shape.hash:
            raise TxnInvalid("invalid", "does not match the body", "hash")
    return Txn(txn, shape.txn_id, shape.till, shape.store, shape.seq, shape.kind, shape.at,
               account, card, shape.hold_id, shape.bundle_version, shape.hash, original,
               returned, canonical, original_till, points, redeemed, welcome, birthday, top,
               where)
