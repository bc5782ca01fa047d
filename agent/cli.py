"""``kopilka token ...``, ``kopilka agent ...`` and the store-IT commands.

Only this module prints; the library modules log.
"""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable

import click

from drivers import DeviceError
from fastcore import epoch_seconds, money_text

from ._errors import AgentError, ConfigError, TokenError
from ._token import KeySet, verify

#: The one table from an error to a command's answer: its words and exit
#: status. Status 1 is click's "Error: <words>"; another status prints the
#: words alone on stderr (``kopilka token verify``: "error: <reason>", 2).
CLI_ANSWERS: tuple[tuple[type[Exception], Callable[[Any], str], int], ...] = (
    (TokenError, lambda exc: f"error: {exc.reason}", 2),
    (ConfigError, lambda exc: f"config: {exc}", 1),
    (AgentError, str, 1),
    (DeviceError, str, 1),  # e.g. a camera whose decoder library is missing
)


@contextmanager
def cli_answers() -> Iterator[None]:
    """Turn an error of the table into the command's answer, never a traceback."""
    try:
        yield
    except tuple(kind for kind, _, _ in CLI_ANSWERS) as exc:
        words, status = next((w, st) for kind, w, st in CLI_ANSWERS if isinstance(exc, kind))
        if status == 1:
            raise click.ClickException(words(exc)) from exc
        click.echo(words(exc), err=True)
        sys.exit(status)


@click.group()
def token() -> None:
    """Check customer codes (cards and app QR tokens) offline.

    Example: kopilka token verify --keys keys.json --program kopilka 2900000123454
    """


@token.command("verify")
@click.option("--keys", "keys_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JWKS document with the program's public keys.")
@click.option("--program", default=None, help="The till's program id (checks iss).")
@click.option("--now", "now_text", default=None, help="Fix the clock: ISO-8601 instant with Z or offset.")
@click.argument("code")
def token_verify(keys_path: str, program: str | None, now_text: str | None, code: str) -> None:
    """Verify one scanned CODE offline and print its claims as JSON.

    Prints the token's claims, or {"card": "<13 digits>"} for a card number,
    with exit status 0; otherwise "error: <reason>" on stderr, exit status 2.

    Example: kopilka token verify --keys keys.json --now 2026-11-22T07:05:00Z eyJhbGciOi...
    """
    try:
        jwks = json.loads(Path(keys_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read key set {keys_path}: {exc}") from exc
    try:
        now = epoch_seconds(now_text) if now_text else time.time()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from exc
    with cli_answers():
        result = verify(code, KeySet.from_jwks(jwks), now=now, program=program)
    click.echo(json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True))


# ----------------------------------------------------------------- shared

config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(exists=True, dir_okay=False),
    envvar="KOPILKA_CONFIG", help="The till's TOML file (or $KOPILKA_CONFIG).")


def _load(config_path: str):  # type: ignore[no-untyped-def]
    from ._config import load_config

    with cli_answers():
        return load_config(config_path)


def _api_url(cfg) -> str:  # type: ignore[no-untyped-def]
    host = f"[{cfg.api_host}]" if ":" in cfg.api_host else cfg.api_host
    return f"http://{host}:{cfg.api_port}"


def _api_token(cfg) -> str | None:  # type: ignore[no-untyped-def]
    """The till's local API token, if the agent ever made one."""
    try:
        return cfg.token_path.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def _agent_call(cfg, path: str, method: str = "GET", timeout: float = 0.5):  # type: ignore[no-untyped-def]
    """``(answer, None)`` from the running agent's local API, or ``(None, why)``."""
    import httpx

    headers = {}
    token = _api_token(cfg)
    if method != "GET" and token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        resp = httpx.request(method, _api_url(cfg) + path, timeout=timeout, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    try:
        doc = resp.json()
    except ValueError:
        return None, f"HTTP {resp.status_code} with an unreadable answer"
    if resp.status_code >= 400:
        return None, f"HTTP {resp.status_code} {doc.get('error')}: {doc.get('message')}"
    return doc, None


def _agent_api(cfg, path: str, method: str = "GET", timeout: float = 0.5):  # type: ignore[no-untyped-def]
    """Ask the running agent's local API; None when it is not running."""
    return _agent_call(cfg, path, method, timeout)[0]


def _offline_status(cfg) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Status read from the till database when the agent is not running."""
    from sync import Outbox, PromoCache, TillDb

    from ._store import migrate

    if not cfg.db_path.exists():
        raise click.ClickException(f"no till database at {cfg.db_path}: the agent never ran here")
    db = TillDb(cfg.db_path)
    try:
        migrate(db, time.time())
        q = Outbox(db, till=cfg.till, store=cfg.store).status()
        version = PromoCache(db).version
        pending_prints = db.conn.execute("SELECT COUNT(*) FROM agent_print WHERE status='pending'").fetchone()[0]
        open_session = db.conn.execute("SELECT id FROM agent_session WHERE state='open'").fetchone()
    finally:
        db.close()
    return {"till": cfg.till, "store": cfg.store, "state": "not running", "bundle_version": version,
            "queue_depth": q.queue_depth, "oldest_unsynced_age_s": round(q.oldest_unsynced_age_s, 1),
            "rejected": q.rejected, "last_seq": q.last_seq, "acked_through": q.acked_through,
            "print_queue": pending_prints, "open_session": open_session[0] if open_session else None,
            "hardware": {}, "ledger": "unknown"}


def _clock_skew(cfg) -> str:  # type: ignore[no-untyped-def]
    import httpx

    if not cfg.ledger_url:
        return "no ledger configured"
    try:
        t0 = time.time()
        resp = httpx.get(cfg.ledger_url + "/v1/time", timeout=1.0)
        t1 = time.time()
        server = epoch_seconds(resp.json()["server_time"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return "ledger unreachable"
    skew = float(server) - (t0 + t1) / 2
    return f"{skew:+.2f} s (till is {'behind' if skew > 0 else 'ahead'})"


# ----------------------------------------------------------------- commands


@click.group("agent")
def agent_group() -> None:
    """Run the till agent (the daemon behind the POS).

    Example: kopilka agent run --config /etc/kopilka/till.toml
    """


@agent_group.command("run")
@config_option
@click.option("--once", is_flag=True, help="Start, do one round of work, stop (checks, scripts).")
def agent_run(config_path: str, once: bool) -> None:
    """Run the till agent until SIGTERM: devices, sales, local API, sync.

    Logs are JSON lines on stderr (or [log] file); SIGTERM stops cleanly and
    keeps an open sale journaled for the next start.

    Example: kopilka agent run --config till.toml
    """
    from ._daemon import Agent
    from ._logging import setup_logging

    cfg = _load(config_path)
    setup_logging(cfg.log_level, file=str(cfg.log_file) if cfg.log_file else None)
    agent = Agent(cfg)
    try:
        with cli_answers():
            agent.start()
    except click.ClickException:
        agent.stop()
        raise
    if agent.api is not None:
        click.echo(f"kopilka agent {cfg.till}: cashier screen at {agent.api.url}/cashier", err=True)
    agent.run(once=once)


@agent_group.command("token")
@config_option
def agent_token(config_path: str) -> None:
    """Print the till's local API token (for the POS integration).

    The token is made at the agent's first start in <data_dir>/api-token
    (mode 0600); this command makes it if the agent never ran yet. Every
    state-changing call to the local API sends it as
    "Authorization: Bearer <token>".

    Example: kopilka agent token --config till.toml
    """
    from ._security import load_or_create_token

    cfg = _load(config_path)
    try:
        click.echo(load_or_create_token(cfg.data_dir))
    except OSError as exc:
        raise click.ClickException(f"cannot read or make {cfg.token_path}: {exc.strerror or exc}") from exc


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(config_path: str, as_json: bool) -> None:
    """Till health: hardware, queue depth and age, bundle, last sync, clock skew.

    Asks the running agent; when it is not running, reads the till database.

    Example: kopilka status --config till.toml
    """
    cfg = _load(config_path)
    doc = _agent_api(cfg, "/v1/status") or _offline_status(cfg)
    doc["clock_skew"] = _clock_skew(cfg)
    if as_json:
        click.echo(json.dumps(doc, ensure_ascii=False, sort_keys=True))
        return
    last = doc.get("last_sync_at")
    rows = [
        ("till", f"{doc['till']} (store {doc['store']}), agent {doc.get('state', '?')}"),
        ("hardware", ", ".join(f"{k} {v}" for k, v in (doc.get("hardware") or {}).items()) or "agent not running"),
        ("queue", f"{doc['queue_depth']} to send, oldest {doc['oldest_unsynced_age_s']} s; {doc['rejected']} rejected"),
        ("sequence", f"last seq {doc['last_seq']}, acknowledged through {doc['acked_through']}"),
        ("bundle", f"version {doc['bundle_version']}"),
        ("ledger", f"{doc.get('ledger')}; last sync "
                   + (time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(last)) if last else "never")),
        ("clock skew", doc["clock_skew"]),
        ("printer queue", f"{doc['print_queue']} receipt(s) waiting"),
        ("open sale", doc.get("open_session") or "none"),
    ]
    for k, v in rows:
        click.echo(f"{k:<14} {v}")


@click.command("queue")
@config_option
@click.option("--all", "show_all", is_flag=True, help="Also the acknowledged rows.")
@click.option("--limit", default=50, show_default=True)
def queue(config_path: str, show_all: bool, limit: int) -> None:
    """List the till's outbox: what has not reached the ledger yet, and rejects.

    Example: kopilka queue --config till.toml
    """
    from sync import TillDb

    cfg = _load(config_path)
    if not cfg.db_path.exists():
        raise click.ClickException(f"no till database at {cfg.db_path}")
    db = TillDb(cfg.db_path)
    try:
        where = "" if show_all else "WHERE o.status != 'acked'"
        rows = db.conn.execute(
            "SELECT o.seq, o.txn_id, o.status, o.created_at, q.reason, q.detail, o.body FROM outbox o"
            f" LEFT JOIN quarantine q ON q.seq = o.seq {where} ORDER BY o.seq LIMIT ?", (limit,)).fetchall()
    finally:
        db.close()
    if not rows:
        click.echo("queue empty: every sale has reached the ledger")
        return
    click.echo(f"{'seq':>5}  {'kind':<6} {'status':<9} {'age':>8}  {'paid':>9}  txn_id / reason")
    now = time.time()
    for seq, txn_id, st, created, reason, detail, body in rows:
        txn = json.loads(body)
        tot = txn.get("result", {}).get("totals", {})
        paid = tot.get("paid", -tot.get("refund", 0))
        why = f"  {reason}: {detail}" if reason else ""
        click.echo(f"{seq:>5}  {txn['kind']:<6} {st:<9} {int(now - created):>7}s  {money_text(paid):>9}  {txn_id}{why}")


@click.group("sync")
def sync_group() -> None:
    """Till-side sync commands.

    Example: kopilka sync now --config till.toml
    """


@sync_group.command("now")
@config_option
def sync_now(config_path: str) -> None:
    """Send every queued sale to the ledger now, with a progress bar.

    Uses the running agent when there is one, else uploads directly.

    Example: kopilka sync now --config till.toml
    """
    cfg = _load(config_path)
    if not cfg.ledger_url:
        raise click.ClickException("no [ledger] url in the config")
    running = _agent_api(cfg, "/v1/status")
    if running is not None:
        report = _sync_through_agent(cfg, running)
    else:
        report = _direct_sync(cfg)
    remaining = report.get("remaining", 0)
    click.echo(f"sent {report.get('sent', 0)}: {report.get('accepted', 0)} accepted, "
               f"{report.get('duplicate', 0)} duplicate, {report.get('rejected', 0)} rejected; "
               f"{remaining} left")
    if report.get("error"):
        raise click.ClickException(
            f"not finished: {remaining} sale(s) still queued because the ledger did not take them "
            f"({report['error']}); the agent keeps retrying, or run this again (kopilka queue lists them)")
    if report.get("rejected"):
        click.echo(f"{report['rejected']} rejected by the ledger: kopilka queue shows why", err=True)


def _sync_through_agent(cfg, running: dict[str, Any]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Drain through the running agent; a lost agent is a failure that says what is left."""
    import threading

    total = running["queue_depth"]
    result: dict[str, Any] = {}

    def call() -> None:
        doc, why = _agent_call(cfg, "/v1/sync/now", "POST", 600)
        result.update(doc=doc, why=why)

    t = threading.Thread(target=call, name="sync-now")
    t.start()
    with click.progressbar(length=max(total, 1), label="sending") as bar:
        done = 0
        while t.is_alive():
            t.join(0.2)
            st = _agent_api(cfg, "/v1/status") or {}
            now_done = total - min(total, st.get("queue_depth", total))
            bar.update(max(0, now_done - done))
            done = max(done, now_done)
        if result.get("doc") is not None:
            bar.update(max(total, 1) - done)
    if result.get("doc") is not None:
        return dict(result["doc"])
    why = result.get("why") or "no answer"
    if why.startswith("HTTP 4"):
        raise click.ClickException(f"not finished: the agent refused the drain ({why}); "
                                   f"{total} sale(s) still queued")
    st = _agent_api(cfg, "/v1/status")
    if st is None:
        try:
            st = _offline_status(cfg)
        except click.ClickException:
            st = {}
    left = st.get("queue_depth", "an unknown number of")
    raise click.ClickException(
        f"not finished: the agent stopped answering during the drain ({why}); {left} sale(s) still queued."
        " Check the agent (kopilka status, journalctl -u kopilka-agent) and run kopilka sync now again.")


def _direct_sync(cfg) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from dataclasses import asdict

    from sync import Outbox, TillDb, Uploader, UploaderBusy

    db = TillDb(cfg.db_path)
    try:
        outbox = Outbox(db, till=cfg.till, store=cfg.store)
        total = outbox.status().queue_depth
        try:
            up = Uploader(outbox, base_url=cfg.ledger_url, key=cfg.ledger_key, heartbeat_every_s=0)
        except UploaderBusy as exc:
            raise click.ClickException(f"another uploader runs on this till: {exc}") from exc
        try:
            with click.progressbar(length=max(total, 1), label="sending") as bar:
                state = {"done": 0}

                def progress(done: int, tot: int) -> None:
                    bar.update(done - state["done"])
                    state["done"] = done

                report = up.sync_now(progress)
        finally:
            up.close()
    finally:
        db.close()
    return asdict(report)
