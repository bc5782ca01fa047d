"""``kopilka token ...``, ``kopilka agent ...`` and the store-IT commands.

Only this module prints; the library modules log.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from ._errors import TokenError
from ._token import KeySet, parse_instant, verify


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
        now = parse_instant(now_text) if now_text else time.time()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--now") from exc
    try:
        result = verify(code, KeySet.from_jwks(jwks), now=now, program=program)
    except TokenError as exc:
        click.echo(f"error: {exc.reason}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True))
