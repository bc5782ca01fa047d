"""The bundle in force at one till: the first one, the pulls, the token keys.

A new till fetches the ledger's whole bundle before it sells, else starts
from a seed file (replaced at the first contact, ``_bootstrap.py``); the
pull round runs on its own thread and swaps the engine when a new version
arrives; the ledger's token keys are refreshed beside it.
"""
from __future__ import annotations

import gc
import logging
from typing import TYPE_CHECKING, Any

from ._catalog import Catalog
from ._errors import ConfigError

if TYPE_CHECKING:
    from ._daemon import Agent

log = logging.getLogger(__name__)


class BundleKeeper:
    """Keeps the agent's bundle and token keys current (``agent``: its cache, runtime, till)."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def first_bundle(self) -> None:
        """Nothing stored yet: the ledger's whole bundle, else the seed file, else refuse.

        (``_bootstrap.py`` says why a seed is replaced at the first contact.)
        """
        from sync import BundleRefused

        from ._errors import BootstrapFailed

        cfg, rt = self.agent.config, self.agent.runtime
        why = []
        if cfg.ledger_url and cfg.ledger_key:
            try:
                version, bundle = rt.ledger_bundle(cfg)
                self.agent.cache.install(bundle, version)
                rt.set_seeded(cfg, False)
                log.info("bundle version %d bootstrapped from the ledger", version)
                return
            except BootstrapFailed as exc:
                why.append(f"the ledger at {cfg.ledger_url} gave no bundle ({exc})")
            except BundleRefused as exc:
                why.append(f"the ledger's bundle was refused ({exc})")
            log.warning("first start: %s", why[-1])
        else:
            why.append("no [ledger] url and key to fetch one from")
        if cfg.bundle is None:
            raise ConfigError.at("paths.bundle", "this till has no bundle yet: " + "; ".join(why)
                              + "; and no paths.bundle seed file is configured. Make the ledger reachable"
                              " (kopilka agent run fetches the bundle at first start) or give a seed file.")
        try:
            self.agent.cache.install(rt.read_text(cfg.bundle))
        except OSError as exc:
            raise ConfigError.at("paths.bundle", f"cannot read {cfg.bundle}: {exc.strerror}") from exc
        except BundleRefused as exc:
            raise ConfigError.at("paths.bundle", f"{cfg.bundle} is not a valid bundle: {exc}") from exc
        if cfg.ledger_url and cfg.ledger_key:
            rt.set_seeded(cfg, True)
        log.info("bundle version %s from the seed file %s", self.agent.cache.version, cfg.bundle)

    def catalog(self, engine: Any) -> Catalog:
        """A catalog of the bundle in force, with the key set in force (bundle + fetched)."""
        from ._bootstrap import merge_jwks

        meta = self.agent.cache.meta or {}
        return Catalog(dict(meta, keys=merge_jwks(meta.get("keys"), self.agent.fetched_keys)), engine=engine)

    def pull(self) -> None:
        try:
            puller = self.agent.puller
            if puller is None:
                return
            if self.agent.runtime.seeded(self.agent.config):
                self.replace_seed()
            else:
                outcome = puller.pull_once()
                if outcome.kind not in ("none", "offline"):
                    log.info("bundle pull: %s (version %s)", outcome.kind, outcome.version)
            self.refresh_keys()
        except Exception:  # pragma: no cover - logged; the next round retries
            log.exception("bundle pull failed")
        finally:
            self.agent.pulling.clear()
            self.agent.pull_done.set()

    def replace_seed(self) -> None:
        """A seeded till's first contact: the ledger's whole bundle replaces the seed."""
        from sync import BundleRefused

        from ._errors import BootstrapFailed

        try:
            version, bundle = self.agent.runtime.ledger_bundle(self.agent.config)
            engine = self.agent.cache.install(bundle, version)
        except BootstrapFailed as exc:
            log.info("seed bundle kept for now: %s", exc)
            return
        except BundleRefused as exc:
            log.error("the ledger's bundle was refused (%s); the seed stays in force", exc)
            return
        self.agent.runtime.set_seeded(self.agent.config, False)
        self.swap_engine(engine, version)

    def refresh_keys(self) -> None:
        """Ask the ledger for its token keys; keep and apply them when they changed."""
        from ._bootstrap import merge_jwks
        from ._errors import BootstrapFailed
        from ._token import KeySet

        try:
            jwks = self.agent.runtime.ledger_keys(self.agent.config)
        except BootstrapFailed as exc:
            log.debug("token keys not refreshed: %s", exc)
            return
        if jwks == self.agent.fetched_keys:
            return
        self.agent.runtime.write_keys(self.agent.config, jwks)
        self.agent.fetched_keys = jwks
        if self.agent.till is not None:
            meta = self.agent.cache.meta or {}
            merged = merge_jwks(meta.get("keys"), jwks)
            self.agent.till.catalog.keys = KeySet.from_jwks(merged)
            log.info("token keys refreshed from the ledger: %s", ", ".join(k["kid"] for k in merged["keys"]
                                                                         if isinstance(k.get("kid"), str)))
            self.agent.events.publish("keys", kids=[k.get("kid") for k in merged["keys"]])

    def swap_engine(self, engine: Any, version: int) -> None:
        assert self.agent.till is not None
        self.agent.till.catalog = self.catalog(engine)
        freeze_heap()
        log.info("bundle version %d in force", version)
        self.agent.events.publish("bundle", version=version)


def freeze_heap() -> None:
    """Keep the bundle's million objects out of the cyclic GC.

    A full collection walking a 100,000-sku bundle pauses the process for
    tens of milliseconds at random scans; frozen objects are never walked.
    Refrozen after each bundle swap so the old bundle can still be freed.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
