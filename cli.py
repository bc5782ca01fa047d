"""The ``kopilka`` command: one click group, thin commands.

Each package contributes its commands from its own ``_cli`` module; this
file only assembles them. It is also the composition root that lets the
simulators in: ``kopilka demo`` (``hardware_sim.demo``) and the camera
twin as ``kopilka hw test-camera --source sim``, so that no production
package imports ``hardware_sim``. Library errors reach the user as one line on
stderr (``ClickException``), never as a traceback.
"""
from __future__ import annotations

import importlib
from typing import Any

import click

from agent.cli import agent_group, queue, status, sync_group, token
from drivers.cli import add_camera_source, hw
from fastcore.cli import price
from sync import db_group
from sync.cli import till_group
from sync.ledger.cli import ledger, report


class _LazyCommands(dict):  # type: ignore[type-arg]
    """Subcommands given as ``"module:attr"`` are imported on first use.

    Why: ``kopilka sim`` (the device twins) imports OpenCV and numpy, ~26 MB
    that a till started with ``kopilka agent run`` must not carry (issue 5).
    """

    def __getitem__(self, name: str) -> Any:
        value = dict.__getitem__(self, name)
        if isinstance(value, str):
            module, attr = value.split(":")
            value = getattr(importlib.import_module(module), attr)
            dict.__setitem__(self, name, value)
        return value

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self else default

    def items(self) -> Any:
        return [(k, self[k]) for k in list(self)]

    def values(self) -> Any:
        return [self[k] for k in list(self)]


def _simulated_camera(seed: int) -> Any:
    """The camera twin; imported on use (OpenCV, numpy), like ``kopilka sim``."""
    from hardware_sim import simulated_camera

    return simulated_camera(seed)


add_camera_source("sim", _simulated_camera)


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
main.commands = _LazyCommands(main.commands)
main.commands["sim"] = "hardware_sim.cli:sim"
main.commands["demo"] = "hardware_sim.demo:demo"
main.add_command(token)
main.add_command(agent_group)
main.add_command(db_group)
main.add_command(queue)
main.add_command(status)
main.add_command(sync_group)
main.add_command(till_group)


if __name__ == "__main__":  # pragma: no cover
    main()
