"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import Mosquitto, mosquitto_binary

pytest_plugins = ["tests.support.bridge_fixtures"]
"""The bridge's unit-test fixtures (``store``, ``clock``), shared by several modules."""

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trashnet-dev"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh Mosquitto on a free port, stopped after the test."""
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (see README)")
    with Mosquitto(tmp_path) as broker:
        yield broker


@pytest.fixture
def trashnet_dir() -> Path:
    """The development photos in ../shared/data/trashnet-dev; skip when they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"photo data set not found at {SHARED_DATA} (it is never committed)")
    return SHARED_DATA
