"""Retained ``config/desired`` messages a bridge never issued: adopted or cleared, never
ignored.

A bridge that starts on a fresh database (an older backup, a second bridge on the
broker) used not to look at ``config/desired`` at all: a retained desired configuration
it had no record of stayed on the broker, a bin that had not applied it yet was
reconfigured behind its back (status ``superseded``), and the next push could go out
with a version the bin ignores as old. Now the bridge listens on ``config/desired``
and, by ``remote_config.unknown_desired``, adopts such a message (version kept) or
clears it, with a warning naming the bin and the version.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.engine.bridge import Bridge
from cloud_bridge.engine.processor import Processor
from cloud_bridge.services.remote_config import ADOPTED_BY
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import ConfigDesired, decode, encode
from tests.support import bin_messages as msg
from tests.support.bin_messages import T0
from tests.support.bridge_fixtures import FakeNow
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client

TOPIC = "bins/v1/bin-0042/config/desired"
FOREIGN = encode(ConfigDesired(version=7, config={"intake": {"min_confidence": 0.8}}, issued_at=T0))
"""What an earlier bridge left retained for bin-0042."""


def _settings(mosquitto: Mosquitto, tmp_path: Path, **extra: Any) -> BridgeSettings:
    broker = {"url": mosquitto.url, "client_id": "fresh-bridge", "backoff_min_s": 0.05,
              "backoff_max_s": 0.5}  # fmt: skip
    return validate_settings(
        {"broker": broker, "store": {"path": str(tmp_path / "fresh.db")}, **extra}
    )


def _leave_retained(mosquitto: Mosquitto) -> None:
    with Client(mosquitto.port) as earlier_bridge:
        earlier_bridge.publish(TOPIC, FOREIGN, retain=True)


def test_a_fresh_bridge_adopts_a_retained_desired_configuration_and_pushes_above_it(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _leave_retained(mosquitto)
    caplog.set_level(logging.WARNING, logger="cloud_bridge.services.remote_config")
    settings = _settings(mosquitto, tmp_path)
    with Bridge(settings) as bridge, Client(mosquitto.port) as bin_side:
        assert bridge.wait_ready(20)
        assert bridge.wait_for(lambda stats: stats.unknown_desired == 1, 20)
        reader = SQLiteStore(settings.store.path, readonly=True)
        try:
            adopted = reader.get_desired("bin-0042")
            assert adopted is not None
            assert (adopted.version, adopted.config, adopted.actor) == (
                7, {"intake": {"min_confidence": 0.8}}, ADOPTED_BY)  # fmt: skip
            assert adopted.issued_at == T0
            record = reader.get_bin("bin-0042")
            assert record is not None
            assert (record.desired_version, record.registered) == (7, False)
        finally:
            reader.close()
        (line,) = [r.getMessage() for r in caplog.records if "bin-0042" in r.getMessage()]
        assert "adopted desired configuration version 7" in line
        assert "the next push is version 8" in line

        (pushed,) = bridge.push_config({"intervals": {"telemetry_s": 120}}, bin_id="bin-0042",
                                       actor="tech")  # fmt: skip
        assert pushed.version == 8  # above the adopted version: the bin will not ignore it
        assert bridge.wait_published(20)
        # a message queued behind the push's echo: once it is processed, so is the echo
        bin_side.publish(*msg.state("bin-0042", 1))
        assert bridge.wait_processed(1, 20)
        assert bridge.stats.unknown_desired == 1  # its own push is known, not adopted
        bin_side.subscribe(TOPIC)
        (retained,) = bin_side.take(1)
        assert decode(ConfigDesired, bytes(retained.payload)).version == 8


def test_with_clear_the_bridge_deletes_it_from_the_broker(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _leave_retained(mosquitto)
    caplog.set_level(logging.WARNING, logger="cloud_bridge.services.remote_config")
    settings = _settings(mosquitto, tmp_path, remote_config={"unknown_desired": "clear"})
    with Client(mosquitto.port) as bin_side:
        bin_side.subscribe(TOPIC)
        (before,) = bin_side.take(1)
        assert (bytes(before.payload), before.retain) == (FOREIGN, True)
        with Bridge(settings) as bridge:
            assert bridge.wait_ready(20)
            assert bridge.wait_for(lambda stats: stats.unknown_desired == 1, 20)
            (cleared,) = bin_side.take(1)  # an empty retained message deletes it
            assert bytes(cleared.payload) == b""
            assert bridge.wait_published(20)
            assert bridge.stats.unknown_desired == 1
    reader = SQLiteStore(settings.store.path, readonly=True)
    try:
        assert reader.get_desired("bin-0042") is None
        assert reader.get_bin("bin-0042") is None
    finally:
        reader.close()
    (line,) = [r.getMessage() for r in caplog.records if "bin-0042" in r.getMessage()]
    assert "version 7 on the broker was not issued by this bridge" in line
    assert "cleared it" in line


def test_what_the_bridge_issued_or_cannot_read_is_left_as_it_is(
    store: SQLiteStore, clock: FakeNow, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="cloud_bridge")  # whatever an earlier test set
    processor = Processor(validate_settings({}), store, clock)
    processor.process([Inbound(*msg.state("bin-0042", 1))])
    (pushed,), outcome = processor.run(
        lambda: processor.push_config({}, bin_id="bin-0042", region=None, actor="tech")
    )
    (echo,) = outcome.publications
    older = encode(ConfigDesired(version=pushed.version - 1, config={}, issued_at=T0))
    outcome = processor.process(
        [
            Inbound(echo.topic, echo.payload, retained=True),  # its own push, seen again
            Inbound(TOPIC, older, retained=True),  # older than the newest it knows
            Inbound(TOPIC, b""),  # a cleared retained message
            Inbound(TOPIC, b"{not json", retained=True),  # a bin refuses it too
            Inbound("bins/v1/BIN/config/desired", FOREIGN),
        ]
    )
    assert outcome.unknown_desired == 0
    assert outcome.publications == []
    assert outcome.rejected == {"unknown_topic": 1}
    assert store.get_desired("bin-0042") == pushed
    assert any("does not decode, left alone" in r.getMessage() for r in caplog.records)
