"""``kopilka sim ...``: run a device twin from the command line.

The ``sim`` group is shared: scanner and printer twins live here, the camera
and phone twins add their commands to the same group.
"""
from __future__ import annotations

import click


@click.group()
def sim() -> None:
    """Run a simulated till device (scanner, printer, camera, phone) or a fleet of tills.

    Example: kopilka sim printer --port 9100 --out receipts/
    """


from ._chaos_cli import chaos  # noqa: E402  (the network twin)

sim.add_command(chaos)

from ._camera_cli import camera, phone  # noqa: E402  (the camera and phone twins)

sim.add_command(camera)
sim.add_command(phone)

from ._device_cli import printer, scanner  # noqa: E402  (the scanner and printer twins)

sim.add_command(printer)
sim.add_command(scanner)

from ._fleet_cli import fleet  # noqa: E402  (a chain's tills against a running ledger)

sim.add_command(fleet)
