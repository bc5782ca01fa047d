"""The ``kopilka`` command: one click group, thin commands.

Each package contributes its commands from its own ``_cli`` module; this
file only assembles them. Library errors reach the user as one line on
stderr (``ClickException``), never as a traceback.
"""
from __future__ import annotations

import click

from agent._cli import agent_group, demo, queue, status, sync_group, token
from drivers._cli import hw
from fastcore._cli import price
from hardware_sim._cli import sim
from sync.ledger._cli import ledger, report


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kopilka")
def main() -> None:
    """kopilka: the loyalty plugin and sync agent of a store till.

    Example: kopilka price --bundle examples/bundle.json examples/basket.json
    """


main.add_command(hw)
main.add_command(ledger)
main.add_command(price)
main.add_command(report)
main.add_command(sim)
main.add_command(token)
main.add_command(agent_group)
main.add_command(demo)
main.add_command(queue)
main.add_command(status)
main.add_command(sync_group)


if __name__ == "__main__":  # pragma: no cover
    main()
