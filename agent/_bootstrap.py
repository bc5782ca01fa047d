"""A till's first bundle and its token keys, straight from the ledger.

Why: store IT should only have to give a new till the ledger URL and its
key. At first start (nothing stored yet) the agent asks the ledger for the
whole bundle (``GET /v1/bundle?since=0``), which carries the token JWKS. A
``paths.bundle`` file is only a seed for a till that cannot reach the
ledger at first start; a seeded till replaces the seed with the ledger's
full bundle at its first contact, because a seed file's version number says
nothing about what the ledger calls that version (``examples/bundle.json``
is version 1 without keys, the ledger's version 1 has keys: a delta from 1
would never bring them).

Keys also travel on their own: every pull round asks ``GET /v1/keys`` and
keeps the answer in ``<data_dir>/token-keys.json``. The key set in force is
the bundle's keys plus these (by ``kid``; the ledger's answer wins), so a
rotation reaches the till even before the bundle carrying it, and a till
restarted offline keeps the last keys it saw.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import httpx

from ._errors import BootstrapFailed

log = logging.getLogger(__name__)

SEED_MARK = "bundle-seeded"
KEYS_FILE = "token-keys.json"


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    try:
        resp = client.get(path, params=params)
    except httpx.HTTPError as exc:
        raise BootstrapFailed("unreachable", f"{type(exc).__name__}: {exc}") from exc
    if resp.status_code == 404:
        raise BootstrapFailed("no_bundle", "the ledger has no bundle yet (kopilka ledger bundle import)")
    if resp.status_code in (401, 403):
        raise BootstrapFailed("refused", f"the ledger refused this till's key (HTTP {resp.status_code})")
    if resp.status_code != 200:
        raise BootstrapFailed("unavailable", f"HTTP {resp.status_code}")
    try:
        return resp.json()
    except ValueError as exc:
        raise BootstrapFailed("corrupt", "the answer is not JSON") from exc


def fetch_bundle(url: str, key: str, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> tuple[int, dict[str, Any]]:
    """The ledger's newest whole bundle as ``(version, bundle)``."""
    with httpx.Client(base_url=url, timeout=timeout, transport=transport,
                      headers={"Authorization": f"Bearer {key}"}) as client:
        answer = _get(client, "/v1/bundle", since=0)
    if not isinstance(answer, dict) or answer.get("kind") != "full":
        raise BootstrapFailed("corrupt", "the ledger did not answer a full bundle")
    version, bundle = answer.get("version"), answer.get("bundle")
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(bundle, dict):
        raise BootstrapFailed("corrupt", "the full bundle has no integer version or no body")
    return version, bundle


def fetch_keys(url: str, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None) -> dict[str, Any]:
    """The ledger's current token JWKS (``GET /v1/keys``)."""
    with httpx.Client(base_url=url, timeout=timeout, transport=transport) as client:
        doc = _get(client, "/v1/keys")
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise BootstrapFailed("corrupt", "the key set is not a JWKS document")
    return doc


def merge_jwks(bundle_keys: Any, fetched: Any) -> dict[str, Any]:
    """The key set in force: the bundle's keys plus the fetched ones, by ``kid``."""
    out: dict[str, Any] = {}
    for doc in (bundle_keys, fetched):
        if isinstance(doc, dict) and isinstance(doc.get("keys"), list):
            for k in doc["keys"]:
                if isinstance(k, dict):
                    out[str(k.get("kid"))] = k
    return {"keys": list(out.values())}


def read_keys(data_dir: Path) -> dict[str, Any] | None:
    """The last key set fetched from the ledger, if any (a damaged file is ignored)."""
    path = Path(data_dir) / KEYS_FILE
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s unreadable (%s); ignored until the next fetch", path, exc)
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("keys"), list) else None


def write_keys(data_dir: Path, jwks: dict[str, Any]) -> None:
    """Keep the fetched key set (atomic replace: a crash leaves the old or the new)."""
    path = Path(data_dir) / KEYS_FILE
    tmp = path.with_name(f".{KEYS_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(jwks, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
