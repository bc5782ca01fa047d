"""``kopilka price``: the engine from the command line."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ._errors import KopilkaError
from ._json import dumps, loads

if TYPE_CHECKING:
    from . import compiled, reference


def _engine_class(name: str) -> type[reference.Engine] | type[compiled.Engine]:
    """The engine ``--engine`` names; the compiled one is imported only when asked for."""
    if name == "reference":
        from .reference import Engine as Reference

        return Reference
    from .compiled import Engine as Compiled

    return Compiled


def _read_json(path: str, what: str) -> object:
    try:
        return loads(Path(path).read_bytes())
    except OSError as exc:
        raise click.ClickException(f"cannot read {what} {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise click.ClickException(f"{what} {path} is not valid JSON: {exc}") from exc


@click.command()
@click.option("--bundle", "bundle_path", required=True, type=click.Path(dir_okay=False), help="Bundle JSON (spec/pricing.md §2).")
@click.option("--engine", type=click.Choice(["compiled", "reference"]), default="compiled", show_default=True, help="Which engine prices the basket.")
@click.option("--indent", type=int, default=None, help="Pretty-print the result with this indent.")
@click.argument("basket_path", metavar="BASKET.json", type=click.Path(dir_okay=False))
def price(bundle_path: str, engine: str, indent: int | None, basket_path: str) -> None:
    """Price one basket and print the result JSON (spec/pricing.md §7).

    Any error prints one line on stderr and exits with status 2.

    Example: kopilka price --bundle examples/bundle.json examples/basket.json
    """
    try:
        engine_class = _engine_class(engine)
        bundle = _read_json(bundle_path, "bundle")
        basket = _read_json(basket_path, "basket")
        result = engine_class(bundle).price(basket)  # type: ignore[arg-type]
    except (KopilkaError, click.ClickException) as exc:
        message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        click.echo(f"error: {message}", err=True)
        sys.exit(2)
    except ImportError as exc:
        click.echo(f"error: compiled engine not built ({exc}); run make setup or use --engine reference", err=True)
        sys.exit(2)
    click.echo(dumps(result.to_json(), indent=indent))
