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
"""
from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import fastcore

from ._delta import KEYED, apply_delta
from ._errors import BundleRefused
from ._hashchain import canonical_json
from ._tilldb import TillDb

log = logging.getLogger(__name__)


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"),
                      default=lambda o: str(o))


class PromoCache:
    """The till's current bundle version, bundle dict and compiled engine."""

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
    def bundle(self) -> dict[str, Any] | None:
        """The bundle in force as a dict (do not mutate)."""
        return self._state[1]

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
            bundle = fastcore.loads(row[1])
            for section in KEYED:
                rows = conn.execute(
                    "SELECT body FROM promo_entry WHERE section = ? ORDER BY pos", (section,)
                ).fetchall()
                if rows or section != "customers":
                    bundle[section] = fastcore.loads("[" + ",".join(r[0] for r in rows) + "]")
        version = int(row[0])
        engine = self._compile(bundle, version)
        self._state = (version, bundle, engine)
        return version

    def _compile(self, bundle: Any, version: int | None) -> Any:
        try:
            return self._compiler(self._loader(bundle))
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

    def _validated(self, bundle: Mapping[str, Any] | str | bytes, version: int | None) -> tuple[dict[str, Any], int, Any]:
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
            if not isinstance(v, int) or isinstance(v, bool):
                raise BundleRefused("invalid", "bundle has no integer version", field="version")
            data["version"] = v
            for section, key in KEYED.items():
                entries = data.get(section)
                if entries is not None and (not isinstance(entries, list) or not all(
                        isinstance(e, Mapping) and isinstance(e.get(key), str) for e in entries)):
                    raise BundleRefused("invalid", f"every entry needs a string {key!r}", field=section)
            return data, v, self._compile(data, v)
        except BundleRefused as err:
            self._refuse(err, version)
            raise

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
        data, version, engine = self._validated(bundle, version)
        with self.db.transaction() as conn:
            self._store_meta(conn, data, version)
            conn.execute("DELETE FROM promo_entry")
            for section, key in KEYED.items():
                conn.executemany(
                    "INSERT INTO promo_entry (section, key, pos, body) VALUES (?, ?, ?, ?)",
                    ((section, e[key], pos, _dump(e)) for pos, e in enumerate(data.get(section) or [])),
                )
            if in_txn is not None:
                in_txn(conn)
        self._state = (version, data, engine)
        log.info("bundle version %s in force (full)", version)
        return engine

    def install_delta(self, from_version: int, version: int, changes: Any) -> Any:
        """Apply a delta to the held bundle, validate it, then store only the changed rows."""
        held = self.bundle
        if held is None or self.version != from_version:
            err = BundleRefused(
                "version_mismatch", f"delta from {from_version} but version {self.version} is held"
            )
            self._refuse(err, version)
            raise err
        try:
            new = apply_delta(held, changes, version)
        except BundleRefused as err:
            self._refuse(err, version)
            raise
        data, version, engine = self._validated(new, version)
        with self.db.transaction() as conn:
            self._store_meta(conn, data, version)
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
        self._state = (version, data, engine)
        log.info("bundle version %s in force (delta from %s)", version, from_version)
        return engine

    def refusals(self) -> list[dict[str, Any]]:
        """Refused bundles, newest first (status screen)."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT version, reason, field, detail, at FROM promo_refused ORDER BY id DESC"
            ).fetchall()
        return [dict(zip(("version", "reason", "field", "detail", "at"), r)) for r in rows]

    def dumps(self) -> str:
        """The bundle in force as JSON text (``{}`` when none)."""
        return _dump(self.bundle or {})
