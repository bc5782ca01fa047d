"""The promo cache: the bundle the till prices with, kept in the till database.

Why in SQLite: a till restarts offline and must price with its last good
bundle at once. Every candidate bundle (full or the result of a delta) is
validated with ``fastcore.load_bundle`` and compiled *before* it is stored;
only then are version, bundle and engine swapped in one reference
assignment, so a scanning thread sees either the old engine or the new one,
never a half. A refused bundle is recorded in ``promo_refused`` (shown in
status) and the last good one stays in force.

Storage: catalog items, promotions and store customers are one row each in
``promo_entry`` (with their position), the rest of the bundle one row in
``promo_bundle``; a delta rewrites only the rows it changes, in one SQLite
transaction.

Memory (issue 5, till budget 150 MB): the parsed bundle is *not* held. A
100,000-sku bundle as Python dicts is ~75 MB; what the till keeps is the
compiled engine (with its validated ``fastcore.Bundle``) and the small
``meta`` part (program, tiers, stores, keys, customers). Every engine is
built from the entries' JSON texts in two passes (``_build``): the first
keeps only the values that will live on in the engine (strings and ints,
deduplicated: a unit, category or brand is one object, not 100,000), the
second builds the dicts ``load_bundle`` reads, sharing those values. The
dicts then die together in memory of their own, which the allocator can
give back to the system; built in one pass they die scattered among the
values that live on and the process keeps their pages (measured: 226 MB
one pass, 163 MB two passes with the same imports). A delta streams the
stored rows merged with its changes the same way. ``bundle`` re-reads the
whole stored bundle (tests, ``dumps``), never the sale path.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import fastcore
from fastcore import KEYED_SECTIONS as KEYED

from ._customercache import CustomerChanges, cached_customer, cursor, store_changes
from ._memory import Canon, release_free_memory
from ._errors import BundleRefused
from ._hashchain import canonical_json
from ._tilldb import TillDb

log = logging.getLogger(__name__)


#: Sections not held as dicts once the engine is built (the engine has them).
_BIG = ("catalog", "promotions")

#: JSON texts of one section's entries, in order; called once per pass.
Source = Callable[[], Iterable[str]]


def _texts(rows: list[tuple[Any, str]]) -> Source:
    """A source of the stored texts of ``rows`` (``(key, text)`` pairs), readable again."""
    return lambda: (text for _, text in rows)


def _meta_of(bundle: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in bundle.items() if k not in _BIG}


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                      default=lambda o: str(o))


def _stored(conn: sqlite3.Connection, section: str) -> Iterator[tuple[str, str]]:
    """(key, body) of a section's stored entries, in bundle order."""
    return iter(conn.execute("SELECT key, body FROM promo_entry WHERE section = ? ORDER BY pos", (section,)))


def _merged(conn: sqlite3.Connection, section: str, key: str, change: Mapping[str, Any]) -> Source:
    """The stored entries with a (validated) delta applied, as ``apply_delta`` orders them.

    Deleted entries drop out, an upsert of a held key takes its place, a new
    key goes at the end (where ``install_delta`` stores it).
    """
    deleted = set(change.get("delete") or [])
    upserts = {e[key]: dict(e) for e in change.get("upsert") or []}

    def texts() -> Iterator[str]:
        pending = dict(upserts)
        for k, body in _stored(conn, section):
            if k in deleted:
                continue
            e = pending.pop(k, None) if k in pending else None
            yield body if e is None else _dump(e)
        for e in pending.values():
            yield _dump(e)
    return texts


class PromoCache:
    """The till's current bundle version, its small ``meta`` dict and compiled engine."""

    def __init__(
        self,
        db: TillDb,
        *,
        loader: Callable[[Any], Any] = fastcore.load_bundle,
        compiler: Callable[[Any], Any] = fastcore.Engine,
    ) -> None:
        self.db = db
        self._loader = loader
        self._compiler = compiler
        self._state: tuple[int | None, dict[str, Any] | None, Any] = (None, None, None)
        self.load()

    @property
    def version(self) -> int | None:
        """Version of the bundle in force (``None`` before the first one)."""
        return self._state[0]

    @property
    def meta(self) -> dict[str, Any] | None:
        """The bundle in force without ``catalog`` and ``promotions`` (do not mutate).

        Those two live in the engine (``engine.bundle.catalog``) and in SQLite.
        """
        return self._state[1]

    @property
    def bundle(self) -> dict[str, Any] | None:
        """The whole bundle in force, re-read from SQLite (a fresh dict each time).

        Costs a full parse of the stored rows: for tests, ``dumps`` and
        delta application, never for the sale path.
        """
        with self.db.lock:
            return self._read(self.db.conn)[1]

    @staticmethod
    def _read(conn: sqlite3.Connection) -> tuple[int | None, dict[str, Any] | None]:
        row = conn.execute("SELECT version, body FROM promo_bundle WHERE id = 1").fetchone()
        if row is None:
            return None, None
        bundle: dict[str, Any] = fastcore.loads(row[1])
        for section in KEYED:
            rows = conn.execute(
                "SELECT body FROM promo_entry WHERE section = ? ORDER BY pos", (section,)
            ).fetchall()
            if rows or section != "customers":
                bundle[section] = fastcore.loads("[" + ",".join(r[0] for r in rows) + "]")
            del rows
        return int(row[0]), bundle

    @property
    def engine(self) -> Any:
        """The compiled ``fastcore.Engine`` in force, or ``None``."""
        return self._state[2]

    def load(self) -> int | None:
        """Load the stored bundle (start-up); returns its version."""
        with self.db.lock:
            conn = self.db.conn
            row = conn.execute("SELECT version, body FROM promo_bundle WHERE id = 1").fetchone()
            if row is None:
                return None
            version = int(row[0])
            sources = {s: self._rows_source(conn, s) for s in KEYED}
            data = self._build(fastcore.loads(row[1]), sources)
        engine, meta = self._compile_and_drop(data, version)
        self._state = (version, meta, engine)
        return version

    @staticmethod
    def _rows_source(conn: sqlite3.Connection, section: str) -> Source | None:
        if section == "customers" and conn.execute(
                "SELECT 1 FROM promo_entry WHERE section = ? LIMIT 1", (section,)).fetchone() is None:
            return None  # stored without customers: the bundle had none
        return lambda: (body for _, body in _stored(conn, section))

    @staticmethod
    def _build(meta: dict[str, Any], sources: Mapping[str, Source | None]) -> dict[str, Any]:
        """The bundle dict from ``meta`` and the sections' entry texts, in two passes (module doc)."""
        canon = Canon()
        loads = fastcore.loads
        for source in sources.values():
            if source is not None:
                for text in source():
                    canon.keep(loads(text))
        data = dict(meta)
        for section, source in sources.items():
            if source is not None:
                data[section] = [canon.share(loads(text)) for text in source()]
        return data

    def _compile_and_drop(self, data: dict[str, Any], version: int | None) -> tuple[Any, dict[str, Any]]:
        """Validate and compile ``data``, dropping its dicts in between; (engine, meta).

        The dicts go (and their memory back to the system) as soon as the
        validated ``fastcore.Bundle`` exists, before compiling: the compiler's
        temporaries then reuse that memory instead of growing the process.
        """
        meta = _meta_of(data)
        try:
            loaded = self._guard(self._loader, data)
            if isinstance(loaded, fastcore.Bundle) and isinstance(loaded.raw, Mapping):
                # The validated Bundle keeps its source dict as ``raw`` (unused
                # by the engine): keep only the small part, so that the parsed
                # catalog and promotions can be freed.
                loaded = dataclasses.replace(loaded, raw=_meta_of(loaded.raw))
                data.clear()  # the caller's reference must not keep the entries alive
        finally:
            release_free_memory()
        try:
            return self._guard(self._compiler, loaded), meta
        finally:
            release_free_memory()

    @staticmethod
    def _guard(step: Callable[[Any], Any], arg: Any) -> Any:
        """Run the loader or the compiler, turning its errors into ``BundleRefused``."""
        try:
            return step(arg)
        except fastcore.BundleError as exc:
            raise BundleRefused("invalid", exc.message, field=exc.field) from exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BundleRefused("corrupt", f"{type(exc).__name__}: {exc}") from exc

    def _refuse(self, err: BundleRefused, version: int | None) -> None:
        log.error("bundle version %s refused (%s); keeping version %s", version, err, self.version)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO promo_refused (version, reason, field, detail, at) VALUES (?, ?, ?, ?, ?)",
                (version, err.reason, err.field, err.message, self.db.clock()),
            )

    def _validated(self, bundle: Mapping[str, Any] | str | bytes, version: int | None) -> tuple[dict[str, Any], int]:
        """The bundle as a (shallow-copied) dict with its version; checks the entries' keys."""
        try:
            if isinstance(bundle, (str, bytes)):
                try:
                    bundle = fastcore.loads(bundle)
                except ValueError as exc:
                    raise BundleRefused("corrupt", f"not JSON: {exc}") from exc
            if not isinstance(bundle, Mapping):
                raise BundleRefused("corrupt", "a bundle is a JSON object")
            data = dict(bundle)
            v = data.get("version") if version is None else version
            if not fastcore.is_int(v):
                raise BundleRefused("invalid", "bundle has no integer version", field="version")
            data["version"] = v
            for section, key in KEYED.items():
                entries = data.get(section)
                if entries is not None and (not isinstance(entries, list) or not all(
                        isinstance(e, Mapping) and isinstance(e.get(key), str) for e in entries)):
                    raise BundleRefused("invalid", f"every entry needs a string {key!r}", field=section)
            return data, v
        except BundleRefused as err:
            self._refuse(err, version)
            raise

    def _compile_refusing(self, meta: dict[str, Any], sources: Mapping[str, Source | None],
                          version: int) -> tuple[Any, dict[str, Any]]:
        """Build and compile a candidate; a refusal is recorded and re-raised."""
        try:
            try:
                data = self._build(meta, sources)
            except ValueError as exc:  # an entry text that is not JSON
                raise BundleRefused("corrupt", f"{type(exc).__name__}: {exc}") from exc
            return self._compile_and_drop(data, version)
        except BundleRefused as err:
            self._refuse(err, version)
            raise

    @staticmethod
    def _skeleton(conn: sqlite3.Connection, changes: Any) -> dict[str, Any]:
        """The stored bundle with only the keys of the sections ``changes`` touches.

        Enough for ``apply_delta`` to check the delta against what is held
        (a delete of an id that is not there is refused) without the entries.
        """
        row = conn.execute("SELECT body FROM promo_bundle WHERE id = 1").fetchone()
        held: dict[str, Any] = fastcore.loads(row[0]) if row is not None else {}
        if isinstance(changes, Mapping):
            for section, key in KEYED.items():
                if changes.get(section) is not None:
                    held[section] = [{key: k} for k, _ in _stored(conn, section)]
        return held

    @staticmethod
    def _meta(data: Mapping[str, Any]) -> str:
        return canonical_json({k: v for k, v in data.items() if k not in KEYED})

    def _store_meta(self, conn: sqlite3.Connection, data: Mapping[str, Any], version: int) -> None:
        conn.execute(
            "INSERT INTO promo_bundle (id, version, body, stored_at) VALUES (1, ?, ?, ?)"
            " ON CONFLICT(id) DO UPDATE SET version = excluded.version,"
            " body = excluded.body, stored_at = excluded.stored_at",
            (version, self._meta(data), self.db.clock()),
        )

    def install(
        self,
        bundle: Mapping[str, Any] | str,
        version: int | None = None,
        *,
        in_txn: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Any:
        """Validate, compile, store and swap in a full bundle; return the engine.

        ``bundle`` may be a dict or JSON text. Raises ``BundleRefused`` (and
        keeps the bundle in force) when it is corrupt or invalid.
        """
        data, version = self._validated(bundle, version)
        del bundle
        meta = {k: v for k, v in data.items() if k not in KEYED}
        rows = {section: [(e[key], _dump(e)) for e in data[section]]
                for section, key in KEYED.items() if data.get(section) is not None}
        data.clear()
        engine, meta = self._compile_refusing(
            meta, {s: _texts(r) for s, r in rows.items()}, version)
        with self.db.transaction() as conn:
            self._store_meta(conn, meta, version)
            conn.execute("DELETE FROM promo_entry")
            for section, entries in rows.items():
                conn.executemany(
                    "INSERT INTO promo_entry (section, key, pos, body) VALUES (?, ?, ?, ?)",
                    ((section, k, pos, text) for pos, (k, text) in enumerate(entries)),
                )
            if in_txn is not None:
                in_txn(conn)
        del rows
        release_free_memory()
        self._state = (version, meta, engine)
        log.info("bundle version %s in force (full)", version)
        return engine

    def install_delta(self, from_version: int, version: int, changes: Any, *,
                      in_txn: Callable[[sqlite3.Connection], None] | None = None) -> Any:
        """Apply a delta to the stored bundle, validate it, then store only the changed rows.

        ``in_txn`` runs in the transaction that stores it (the store customer cache).
        """
        if self.version is None or self.version != from_version:
            err = BundleRefused(
                "version_mismatch", f"delta from {from_version} but version {self.version} is held"
            )
            self._refuse(err, version)
            raise err
        # A consistent snapshot of the stored bundle on the reader connection:
        # the sale path keeps the main connection meanwhile.
        with self.db.reader() as rconn:
            rconn.execute("BEGIN")
            try:
                try:
                    new = fastcore.apply_delta(self._skeleton(rconn, changes), changes, version)
                except fastcore.DeltaError as exc:
                    err = BundleRefused("bad_delta", exc.message, field=exc.field)
                    self._refuse(err, version)
                    raise err from exc
                meta = {k: v for k, v in new.items() if k not in KEYED}
                del new
                sources: dict[str, Source | None] = {}
                for section, key in KEYED.items():
                    change = changes.get(section)
                    sources[section] = (self._rows_source(rconn, section) if change is None
                                        else _merged(rconn, section, key, change))
                engine, meta = self._compile_refusing(meta, sources, version)
            finally:
                rconn.execute("COMMIT")
        with self.db.transaction() as conn:
            self._store_meta(conn, meta, version)
            for section, key in KEYED.items():
                change = changes.get(section)
                if change is None:
                    continue
                conn.executemany("DELETE FROM promo_entry WHERE section = ? AND key = ?",
                                 ((section, k) for k in change.get("delete") or []))
                top = conn.execute("SELECT COALESCE(MAX(pos), -1) FROM promo_entry WHERE section = ?",
                                   (section,)).fetchone()[0]
                for e in change.get("upsert") or []:
                    cur = conn.execute("UPDATE promo_entry SET body = ? WHERE section = ? AND key = ?",
                                       (_dump(e), section, e[key]))
                    if cur.rowcount == 0:
                        top += 1
                        conn.execute("INSERT INTO promo_entry (section, key, pos, body) VALUES (?, ?, ?, ?)",
                                     (section, e[key], top, _dump(e)))
            if in_txn is not None:
                in_txn(conn)
        self._state = (version, meta, engine)
        log.info("bundle version %s in force (delta from %s)", version, from_version)
        return engine

    # -- the store customer cache (spec/till.md §2a, ``_customercache``) ----------

    def customer(self, card: str) -> dict[str, Any] | None:
        """The store customer cache's entry for ``card`` (offline identification), or None."""
        return cached_customer(self.db, card)

    @property
    def customers_cursor(self) -> str:
        """The ledger's cursor of the customer cache held (``""``: none yet)."""
        return cursor(self.db)

    def install_customers(self, changes: CustomerChanges) -> None:
        """Store customer changes that came without a new bundle, in one transaction."""
        with self.db.transaction() as conn:
            store_changes(conn, changes)
        release_free_memory()
        log.info("store customer cache: %s, %d upserts, %d deletes",
                 "full" if changes.full else "delta", len(changes.upsert), len(changes.delete))

    def refusals(self) -> list[dict[str, Any]]:
        """Refused bundles, newest first (status screen)."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT version, reason, field, detail, at FROM promo_refused ORDER BY id DESC"
            ).fetchall()
        return [dict(zip(("version", "reason", "field", "detail", "at"), r, strict=False)) for r in rows]

    def dumps(self) -> str:
        """The bundle in force as JSON text (``{}`` when none)."""
        return _dump(self.bundle or {})
