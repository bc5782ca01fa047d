"""The promo cache: the bundle the till prices with, kept in the till database.

Why in SQLite: a till restarts offline and must price with its last good
bundle at once. Every candidate bundle (full or the result of a delta) is
validated with ``fastcore.load_bundle`` and compiled *before* it is stored;
only then are version, bundle and engine swapped in one reference
assignment, so a scanning thread sees either the old engine or the new one,
never a half. A refused bundle is recorded in ``promo_refused`` (shown in
status) and the last good one stays in force.
"""
from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import fastcore

from ._delta import apply_delta
from ._errors import BundleRefused
from ._hashchain import canonical_json
from ._tilldb import TillDb

log = logging.getLogger(__name__)


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
            row = self.db.conn.execute("SELECT version, body FROM promo_bundle WHERE id = 1").fetchone()
        if row is None:
            return None
        version, body = int(row[0]), row[1]
        bundle = fastcore.loads(body)
        engine = self._compile(bundle, version)
        self._state = (version, bundle, engine)
        return version

    def _compile(self, bundle: Any, version: int | None) -> Any:
        try:
            return self._compiler(self._loader(bundle))
        except fastcore.BundleError as exc:
            raise BundleRefused("invalid", exc.message, field=exc.field) from exc
        except (ValueError, TypeError) as exc:
            raise BundleRefused("corrupt", str(exc)) from exc

    def _refuse(self, err: BundleRefused, version: int | None) -> None:
        log.error("bundle version %s refused (%s); keeping version %s", version, err, self.version)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO promo_refused (version, reason, field, detail, at) VALUES (?, ?, ?, ?, ?)",
                (version, err.reason, err.field, err.message, self.db.clock()),
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
            version = v
            data["version"] = version
            engine = self._compile(data, version)
            body = canonical_json(data)
        except BundleRefused as err:
            self._refuse(err, version)
            raise
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO promo_bundle (id, version, body, stored_at) VALUES (1, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET version = excluded.version,"
                " body = excluded.body, stored_at = excluded.stored_at",
                (version, body, self.db.clock()),
            )
            if in_txn is not None:
                in_txn(conn)
        self._state = (version, data, engine)
        log.info("bundle version %s in force", version)
        return engine

    def install_delta(self, from_version: int, version: int, changes: Any) -> Any:
        """Apply a delta to the held bundle, then :meth:`install` the result."""
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
        return self.install(new, version)

    def refusals(self) -> list[dict[str, Any]]:
        """Refused bundles, newest first (status screen)."""
        with self.db.lock:
            rows = self.db.conn.execute(
                "SELECT version, reason, field, detail, at FROM promo_refused ORDER BY id DESC"
            ).fetchall()
        return [dict(zip(("version", "reason", "field", "detail", "at"), r)) for r in rows]

    def dumps(self) -> str:
        """The bundle in force as JSON text (``{}`` when none)."""
        return json.dumps(self.bundle or {}, default=str)
