"""The camera twin as a named source of ``kopilka hw test-camera --source sim``.

It lives beside the twins, not in ``drivers``: the composition root
(``cli.py``) adds it to the drivers' named sources, so no production
package imports the simulators.
"""
from __future__ import annotations

import numpy as np

from ._camera import CameraTwin, demo_script
from ._codes import sample_card, sample_token


def simulated_camera(seed: int) -> CameraTwin:
    """A camera that shows an app token, then a loyalty card, with idle frames between."""
    rng = np.random.default_rng(seed)
    return CameraTwin(demo_script([sample_token(rng), sample_card(rng)], idle=15, hold=15), seed=seed)
