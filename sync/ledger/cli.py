"""``kopilka ledger …`` and ``kopilka report …``: the head-office commands."""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from fastcore import MAX_INT

from sync import cli_error

from . import _apikeys, _favourite, _readers, _report_cli
from ._errors import LedgerError
from ._ledger import Ledger
from ._views import statement_table, txn_table

F = TypeVar("F", bound=Callable[..., Any])

db_option = click.option("--db", "db_url", required=True, envvar="KOPILKA_LEDGER_DB",
                         help="sqlite:///path/ledger.db or postgresql://user@host:port/db "
                              "(env KOPILKA_LEDGER_DB)")


def _errors(fn: F) -> F:
    """Show library errors as ``sync.CLI_ANSWERS`` says: one line, never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LedgerError as exc:
            raise cli_error(exc) from exc
    return wrapper  # type: ignore[return-value]


@click.group()
def ledger() -> None:
    """The central ledger: storage, members, tills, bundles, keys, the HTTP service.

    Example: kopilka ledger serve --db sqlite:///ledger.db --port 8400
    """


@ledger.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8400, show_default=True, type=int)
@click.option("--log-level", default="warning", show_default=True)
@click.option("--per-sale-commit", is_flag=True,
              help="commit each sale on its own (single-shard transactions on Citus)")
@click.option("--customer-refresh-s", default=1.0, show_default=True, type=click.FloatRange(0),
              help="fold sales and balance changes into the store customer caches at most "
                   "this often (seconds)")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="worker processes sharing the port, each with its own database "
                   "connections and audit worker")
@_errors
def serve(db_url: str, host: str, port: int, log_level: str, per_sale_commit: bool,
          customer_refresh_s: float, workers: int) -> None:
    """Serve the ledger HTTP API (docs/sync-protocol.md) with uvicorn.

    Card numbers are masked to their last 4 digits in every log line,
    the access log included, at every --log-level.

    Example: kopilka ledger serve --db sqlite:///ledger.db --host 127.0.0.1 --port 8400 --workers 2
    """
    from ._serve import serve as run

    run(db_url, host=host, port=port, log_level=log_level, workers=workers,
        per_sale_commit=per_sale_commit, customer_refresh_s=customer_refresh_s)


@ledger.command()
@db_option
@_errors
def migrate(db_url: str) -> None:
    """Create or upgrade the ledger schema (also done by every other command).

    Example: kopilka ledger migrate --db postgresql://postgres@127.0.0.1:5432/kopilka
    """
    with Ledger(db_url) as led:
        led.build_customer_caches()  # once, after migration 7: not in a till's request
        with led.storage.transaction() as tx:
            rows = tx.all("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
    for version, name, at in rows:
        click.echo(f"{version}\t{at}\t{name}")


@ledger.group()
def members() -> None:
    """Member cards and accounts.

    Example: kopilka ledger members import --db sqlite:///ledger.db members.csv
    """


@members.command("import")
@db_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_errors
def members_import(db_url: str, file: Path) -> None:
    """Load members from CSV or JSON lines; re-importing the same file changes nothing.

    Columns: card, account, tier, segments, offers, birthday, favorite_category,
    favorite_until, opening_balance, offline_cap, home_store (the store whose tills
    keep the card in their offline customer cache).

    Example: kopilka ledger members import --db sqlite:///ledger.db members.csv
    """
    with Ledger(db_url) as led:
        stats = led.import_members(file.read_text(encoding="utf-8"))
    click.echo(f"cards: {stats.cards_added} added, {stats.cards_updated} updated, "
               f"{stats.cards_unchanged} unchanged; accounts: {stats.accounts_added} added; "
               f"opening balances: {stats.opening_applied} applied")
    for account in stats.opening_differs:
        click.echo(f"warning: account {account}: opening balance differs from the one already "
                   "journaled; not applied (use kopilka ledger adjust)", err=True)


@members.command("remove")
@db_option
@click.argument("cards", nargs=-1, required=True)
@_errors
def members_remove(db_url: str, cards: tuple[str, ...]) -> None:
    """Remove member cards; the stores' tills drop them with their next bundle delta.

    The account, its journal and its sales stay (points are money). An
    unknown card refuses the whole list and changes nothing.

    Example: kopilka ledger members remove --db sqlite:///ledger.db 2900000123454
    """
    with Ledger(db_url) as led:
        n = led.remove_members(list(dict.fromkeys(cards)))
    click.echo(f"cards removed: {n}")


@ledger.command()
@db_option
@click.option("--account", required=True)
@click.option("--points", required=True, type=int, help="signed: +50 adds, -50 removes")
@click.option("--kind", type=click.Choice(["adjustment", "expiry"]), default="adjustment",
              show_default=True)
@click.option("--note", default=None)
@_errors
def adjust(db_url: str, account: str, points: int, kind: str, note: str | None) -> None:
    """Journal a manual adjustment or a points expiry for one account.

    Example: kopilka ledger adjust --db sqlite:///ledger.db --account A-77 --points -120 --kind expiry
    """
    with Ledger(db_url) as led:
        led.adjust(account, points, kind, note)
        click.echo(f"{account}: balance {led.balance(account)}")


@ledger.command()
@db_option
@_errors
def check(db_url: str) -> None:
    """Prove every balance equals its journal sum and its points lots (exit 1 on a mismatch).

    Example: kopilka ledger check --db sqlite:///ledger.db
    """
    with Ledger(db_url) as led:
        bad = led.check()
    for m in bad:
        click.echo(f"mismatch: account {m.account}: balance {m.balance}, {m.source} {m.journal}",
                   err=True)
    if bad:
        sys.exit(1)
    click.echo("ok: every balance equals its journal and its lots")


@ledger.command()
@db_option
@_errors
def audit(db_url: str) -> None:
    """Re-price every uploaded sale not yet audited (the server's worker does this too).

    Useful after a crash with the server down, or before a report on a ledger
    whose server is stopped. Prints how many sales were audited.

    Example: kopilka ledger audit --db sqlite:///ledger.db
    """
    with Ledger(db_url) as led:
        n = led.audit_pending()
    click.echo(f"audited {n} sales")


@ledger.group()
def till() -> None:
    """Till registration and keys.

    Example: kopilka ledger till add --db sqlite:///ledger.db --store KY-001 --till KY-001-01
    """


@till.command("add")
@db_option
@click.option("--store", required=True)
@click.option("--till", "till_id", required=True)
@click.option("--replace", is_flag=True, help="issue a new key for an existing till")
@_errors
def till_add(db_url: str, store: str, till_id: str, replace: bool) -> None:
    """Register a till and print its key once (only its hash is stored).

    Example: kopilka ledger till add --db sqlite:///ledger.db --store KY-001 --till KY-001-01
    """
    with Ledger(db_url) as led:
        click.echo(led.add_till(store, till_id, replace=replace))


@ledger.command("import")
@db_option
@click.argument("bundle", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_errors
def import_bundle(db_url: str, bundle: Path) -> None:
    """Validate a bundle with fastcore and store it as the next version.

    Example: kopilka ledger import --db sqlite:///ledger.db examples/bundle.json
    """
    with Ledger(db_url) as led:
        version, created = led.import_bundle(bundle.read_text(encoding="utf-8"))
    click.echo(f"version {version}" + ("" if created else " (unchanged)"))


@ledger.command()
@db_option
@click.option("--card", required=True)
@_errors
def token(db_url: str, card: str) -> None:
    """Print a signed loyalty token (JWS, EdDSA) for a card, as the app would show it.

    Example: kopilka ledger token --db sqlite:///ledger.db --card 2900000123458
    """
    with Ledger(db_url) as led:
        click.echo(led.issue_token(card))


@ledger.command()
@db_option
@click.option("--phone-hash", default=None,
              help="hex SHA-256 of the phone number (64 lowercase hex digits), optional")
@_errors
def registration(db_url: str, phone_hash: str | None) -> None:
    """Open a pending app sign-up and print its registration QR code (docs/enrolment.md).

    The code (JWS, typ kopilka-reg+jwt) carries the registration id, never a
    card; a till that scans it and then a new card enrols that card linked
    to it. For the phone simulator and tests; in production the app's back
    end asks POST /v1/registrations.

    Example: kopilka ledger registration --db sqlite:///ledger.db
    """
    from . import _enrol
    from ._schemas import RegistrationBody, check

    check({"phone_hash": phone_hash} if phone_hash else {}, RegistrationBody)
    with Ledger(db_url) as led:
        answer = _enrol.register(led, phone_hash)
    click.echo(answer["code"])


@ledger.group()
def keys() -> None:
    """Token signing keys.

    Example: kopilka ledger keys rotate --db sqlite:///ledger.db
    """


@keys.command("rotate")
@db_option
@_errors
def keys_rotate(db_url: str) -> None:
    """Make a new signing key and republish the newest bundle with the new key set.

    Example: kopilka ledger keys rotate --db sqlite:///ledger.db
    """
    with Ledger(db_url) as led:
        kid, version = led.rotate_keys()
    click.echo(f"kid {kid}" + (f"; bundle version {version}" if version else ""))


@keys.command("show")
@db_option
@_errors
def keys_show(db_url: str) -> None:
    """Print the published JWKS (public keys only).

    Example: kopilka ledger keys show --db sqlite:///ledger.db > jwks.json
    """
    with Ledger(db_url) as led:
        click.echo(json.dumps(led.jwks(), indent=1))


@ledger.group("restore-epoch")
def restore_epoch() -> None:
    """The restore epoch tills compare to decide to re-offer their history.

    Example: kopilka ledger restore-epoch bump --db sqlite:///ledger.db
    """


def _epoch_command(name: str, doc: str, action: Callable[[Ledger], str]) -> None:
    """``restore-epoch NAME``: open the ledger, print what ``action`` answers."""
    @restore_epoch.command(name, help=f"{doc}\n\nExample: kopilka ledger restore-epoch {name} "
                                      "--db sqlite:///ledger.db")
    @db_option
    @_errors
    def command(db_url: str) -> None:
        with Ledger(db_url) as led:
            click.echo(action(led))


_epoch_command("bump", "Start a new epoch: run it right after restoring the ledger from a "
               "backup.", Ledger.bump_epoch)
_epoch_command("show", "Print the current restore epoch.", Ledger.epoch)


def _key_group(kind: str, name: str, who: str, example_name: str) -> click.Group:
    """``add``/``list``/``revoke`` for one kind of credential (app or office)."""

    @click.group(name, help=f"{who} keys.\n\nExample: kopilka ledger {name} add --db "
                            f"sqlite:///ledger.db --name {example_name}")
    def group() -> None:
        pass

    @group.command("add", help=f"Make an {kind} key named NAME and print it once (only its "
                               f"hash is stored).\n\nExample: kopilka ledger {name} add "
                               f"--db sqlite:///ledger.db --name {example_name}")
    @db_option
    @click.option("--name", required=True)
    @_errors
    def add(db_url: str, name: str) -> None:
        with Ledger(db_url) as led, led.storage.transaction() as tx:
            key = _apikeys.add(tx, kind, name, led.now_text())
        click.echo(key)

    @group.command("list", help=f"List the {kind} keys: name, created, revoked (never the "
                                f"keys).\n\nExample: kopilka ledger {name} list --db "
                                "sqlite:///ledger.db")
    @db_option
    @_errors
    def list_(db_url: str) -> None:
        with Ledger(db_url) as led, led.storage.transaction() as tx:
            keys = _apikeys.listing(tx, kind)
        for k in keys:
            click.echo(f"{k.name}\t{k.created_at}\t"
                       + (f"revoked {k.revoked_at}" if k.revoked_at else "active"))

    @group.command("revoke", help=f"Revoke the {kind} key NAME: it answers 401 from now on."
                                  f"\n\nExample: kopilka ledger {name} revoke --db "
                                  f"sqlite:///ledger.db {example_name}")
    @db_option
    @click.argument("key_name", metavar="NAME")
    @_errors
    def revoke(db_url: str, key_name: str) -> None:
        with Ledger(db_url) as led, led.storage.transaction() as tx:
            done = _apikeys.revoke(tx, kind, key_name, led.now_text())
        click.echo(f"{kind} key {key_name}: " + ("revoked" if done else "was already revoked"))

    return group


ledger.add_command(_key_group("app", "app-key", "The app back end's token-issuing", "app"))
ledger.add_command(_key_group("office", "office-key", "Head office's read-only", "hq"))


@ledger.command("txn")
@db_option
@click.option("--till", "till_id", default=None, help="a till's transactions by seq range")
@click.option("--from", "first", type=click.IntRange(0, MAX_INT), default=1, show_default=True)
@click.option("--to", "last", type=click.IntRange(0, MAX_INT), default=None)
@click.option("--limit", type=click.IntRange(1, _readers.MAX_PAGE), default=_readers.DEFAULT_PAGE,
              show_default=True, help="rows per page (the next page's --from is printed)")
@click.option("--txn-id", default=None)
@click.option("--receipt", default=None, help="<till>/<seq>, as printed on the receipt")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@_errors
def txn(db_url: str, till_id: str | None, first: int, last: int | None, limit: int,
        txn_id: str | None, receipt: str | None, as_json: bool) -> None:
    """Show transactions the ledger holds: by till and seq range, by txn_id or by receipt.

    Answers "did this sale reach head office?" without SQL. Exactly one of
    --till, --txn-id and --receipt.

    Example: kopilka ledger txn --db sqlite:///ledger.db --receipt KY-001-01/42
    """
    if sum(x is not None for x in (till_id, txn_id, receipt)) != 1:
        raise click.UsageError("give exactly one of --till, --txn-id, --receipt")
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        if till_id is not None:
            page = _readers.by_till(tx, till_id, first, MAX_INT if last is None else last,
                                    limit)
            if page is None:
                raise click.ClickException(f"no till {till_id}")
            rows, more = page["transactions"], page["next_from"]
            data: object = page
        elif txn_id is not None:
            rows, more = _readers.by_txn_id(tx, txn_id), None
            data = {"transactions": rows}
        else:
            assert receipt is not None
            found = _readers.by_receipt(tx, *_readers.parse_receipt(receipt))
            rows, more, data = ([found] if found else []), None, found
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        click.echo(txn_table(rows), nl=False)
        if more is not None:
            click.echo(f"more: --from {more}")
    if not rows:
        sys.exit(1)


@ledger.command("statement")
@db_option
@click.argument("who", metavar="CARD|ACCOUNT")
@click.option("--offset", type=click.IntRange(0, MAX_INT), default=0, show_default=True)
@click.option("--limit", type=click.IntRange(1, _readers.MAX_PAGE), default=_readers.MAX_PAGE,
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
@_errors
def statement(db_url: str, who: str, offset: int, limit: int, as_json: bool) -> None:
    """An account's statement: every journal entry, oldest first, running balance.

    Each entry names its receipt (<till>/<seq>); the header gives the raw
    balance, the pending points, the points held and the available balance
    (balance - pending - held); tier changes, lots and expiring points follow.

    Example: kopilka ledger statement --db sqlite:///ledger.db 2900000123458
    """
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        found = _readers.account_of(tx, who)
        if found is None:
            raise click.ClickException(f"no card or account {who}")
        data = _readers.statement(tx, found[0], led.now_text(), offset, limit)
        data["cards"] = found[1]
    if as_json:
        click.echo(json.dumps(data, indent=1, ensure_ascii=False))
    else:
        click.echo(statement_table(data), nl=False)


@click.group()
def report() -> None:
    """Reports for head office.

    Example: kopilka report sync --db sqlite:///ledger.db --format table
    """


# the report commands and the rollup job live in _report_cli (docs/reports.md)
_report_cli.install(report, ledger, db_option, _errors)


@ledger.group()
def favourite() -> None:
    """Head-office support: a customer's favourite category (the app's choice, issue 12).

    Example: kopilka ledger favourite show --db sqlite:///ledger.db A-77
    """


@favourite.command("show")
@db_option
@click.argument("account")
@_errors
def favourite_show(db_url: str, account: str) -> None:
    """The favourite, when it may next change, the programme's choices and every change.

    Example: kopilka ledger favourite show --db sqlite:///ledger.db A-77
    """
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        data = _favourite.show(tx, account, led.now_text())
    click.echo(json.dumps(data, indent=1, ensure_ascii=False))


@favourite.command("set")
@db_option
@click.argument("account")
@click.argument("category")
@click.option("--by", "by_name", required=True, help="who asks (recorded with the change)")
@click.option("--anytime", is_flag=True,
              help="change even within program.favorite_change_days of the last change")
@_errors
def favourite_set(db_url: str, account: str, category: str, by_name: str,
                  anytime: bool) -> None:
    """Set the favourite as the customer asked support to, from the programme's list.

    Example: kopilka ledger favourite set --db sqlite:///ledger.db --by anna A-77 dairy
    """
    with Ledger(db_url) as led, led.storage.transaction() as tx:
        data = _favourite.choose(tx, account, category, led.now_text(), "support", by_name,
                                 led.storage.for_update, anytime=anytime)
    click.echo(json.dumps(data, indent=1, ensure_ascii=False))


# -- the programme's scheduled jobs: points expiry and tier review (issue 12) ---------
# (docs/programme-life.md: what they do and how to schedule them)

_at_option = click.option("--at", "at", default=None, metavar="YYYY-MM-DD",
                          help="run as of this date (midnight UTC; default: now); "
                               "never after today")


@ledger.command("expire")
@db_option
@_at_option
@_errors
def expire(db_url: str, at: str | None) -> None:
    """Expire points older than program.expiry_days, oldest lots first (run daily).

    Idempotent: a second run (or two at once) expires nothing more. Prints
    what expired, per account, as JSON.

    Example: kopilka ledger expire --db sqlite:///ledger.db --at 2026-12-01
    """
    with Ledger(db_url) as led:
        data = led.expire_points(at)
    click.echo(json.dumps(data, indent=1, ensure_ascii=False))


@ledger.group()
def tiers() -> None:
    """Tiers computed from the rolling spend (program.tier_rules).

    Example: kopilka ledger tiers review --db sqlite:///ledger.db
    """


@tiers.command("review")
@db_option
@_at_option
@_errors
def tiers_review(db_url: str, at: str | None) -> None:
    """Lower the tiers whose rolling spend is below their threshold (end of each review period).

    A tier held for less than program.tier_rules.review_days is kept until
    the next review. Prints the tiers lowered as JSON.

    Example: kopilka ledger tiers review --db sqlite:///ledger.db --at 2026-12-31
    """
    with Ledger(db_url) as led:
        data = led.review_tiers(at)
    click.echo(json.dumps(data, indent=1, ensure_ascii=False))


# -- gift certificates (docs/certificates.md) ----------------------------------
@ledger.group()
def cert() -> None:
    """Gift certificates: issue one at head office, show one (with its code), list them.

    Example: kopilka ledger cert issue --db sqlite:///ledger.db --face 100000 --ocap 50000
    """


@cert.command("issue")
@db_option
@click.option("--face", required=True, type=click.IntRange(1, MAX_INT), help="face value, kopecks")
@click.option("--ocap", type=click.IntRange(1, MAX_INT), default=None,
              help="what the code may pay at a till that cannot reach the ledger (kopecks)")
@click.option("--days", type=click.IntRange(1, 36600), default=365, show_default=True,
              help="days it stays spendable")
@_errors
def cert_issue(db_url: str, face: int, ocap: int | None, days: int) -> None:
    """Issue a certificate now (no till sale) and print it with its signed code (JSON).

    Example: kopilka ledger cert issue --db sqlite:///ledger.db --face 100000
    """
    with Ledger(db_url) as led:
        click.echo(json.dumps(led.certificates.issue(face, ocap, days), indent=1))


@cert.command("show")
@db_option
@click.argument("cert_id")
@_errors
def cert_show(db_url: str, cert_id: str) -> None:
    """A certificate: face, balance, held, every entry, and its code to reprint (JSON).

    Example: kopilka ledger cert show --db sqlite:///ledger.db 3f2a9c1e5b7d4e0f8a6c2b1d9e7f5a3c
    """
    with Ledger(db_url) as led:
        click.echo(json.dumps(led.certificates.show(cert_id, with_code=True), indent=1))


@cert.command("list")
@db_option
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@_errors
def cert_list(db_url: str, limit: int) -> None:
    """Certificates, newest first: id, face, balance, state, the till that sold it.

    Example: kopilka ledger cert list --db sqlite:///ledger.db
    """
    with Ledger(db_url) as led:
        for c in led.certificates.all(limit):
            click.echo(f"{c['cert_id']}  face {c['face']}  balance {c['balance']}  {c['state']}  "
                       f"till {c['till'] or '-'}  until {c['expires_at']}")
