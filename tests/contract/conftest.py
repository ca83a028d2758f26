"""The rig fixture: every contract test runs on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rigs import Rig, make_real_rig, make_sim_rig


@pytest.fixture(params=["sim-pin", "rpi"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    """A bin's hardware on the pin-level simulator, or on a real Pi when enabled."""
    made = make_sim_rig() if request.param == "sim-pin" else make_real_rig()
    try:
        yield made
    finally:
        made.hardware.close()
