"""The intake state machine on device-level hardware and a virtual clock: every path."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.clock import ManualClock
from agent.hardware.devices import DeviceError, Image
from agent.intake import CAMERA_TIMEOUT_S, Phase, camera_timeout
from agent.storage.localdb import LocalDb
from agent.storage.state import STATE_KEY
from simulator.device.physical import Item
from tests.support.bins import SimulatedBin, bin_config, make_bin
from tests.support.fakes import (
    FaultyCamera,
    FixedClassification,
    ScriptedClassifier,
    UnreadableDoor,
)

BOTTLE = Item("plastic", mass_g=32.0, volume_l=1.5)


@dataclass
class Rig:
    """One bin, its clock, its camera and its classifier, to script deposits."""

    bin: SimulatedBin
    clock: ManualClock
    camera: FaultyCamera
    classifier: ScriptedClassifier

    def run(self, seconds: float) -> None:
        end = self.clock.monotonic() + seconds
        while self.clock.monotonic() < end:
            wanted = self.bin.agent.runtime.step()
            self.clock.advance(max(min(wanted, end) - self.clock.monotonic(), 0.001))

    def deposit(self, item: Item | None, *, settle_s: float = 3.0) -> None:
        physical = self.bin.physical
        assert not physical.door_locked, "the door is locked"
        physical.door_open = True
        self.run(1.0)
        if item is not None:
            physical.place_on_tray(item)
        self.run(1.0)
        physical.door_open = False
        self.run(settle_s)

    def take_back(self) -> None:
        physical = self.bin.physical
        physical.door_open = True
        self.run(0.5)
        physical.take_from_tray()
        self.run(0.5)
        physical.door_open = False
        self.run(3.0)

    def events(self, suffix: str) -> list[dict[str, Any]]:
        rows = self.bin.agent.outbox.pending(0, 100_000)
        return [json.loads(r.payload) for r in rows if r.topic.endswith(suffix)]

    def is_locked(self) -> bool:
        return self.bin.physical.door_locked

    @property
    def colour(self) -> str:
        indicators = self.bin.agent.hardware.indicators
        return str(getattr(indicators, "colour", "?"))


class TimingOutCamera(FaultyCamera):
    """A camera that spends its whole timeout (in bin time) and then gives up."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__()
        self.clock = clock

    def capture(self, timeout_s: float = 2.0) -> Image:
        self.clock.advance(timeout_s)
        raise DeviceError("camera", "timeout", f"no frame in {timeout_s:g} s")


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    clock = ManualClock()
    camera = FaultyCamera()
    classifier = ScriptedClassifier()
    config = bin_config(tmp_path, intervals="telemetry_s = 3600\nfill_sample_s = 600")
    test_bin = make_bin(config, port=1, clock=clock, camera=camera, classifier=classifier)
    yield Rig(test_bin, clock, camera, classifier)
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()


def test_accepted_item_drops_counts_and_reports(rig: Rig) -> None:
    rig.run(1)
    telemetry_before = len(rig.events("/telemetry"))
    rig.deposit(BOTTLE)
    (deposit,) = rig.events("/events/deposit")
    assert deposit["accepted"] is True
    assert deposit["category"] == "plastic"
    assert deposit["reason"] is None
    assert deposit["weight_g"] == pytest.approx(32, abs=2)
    assert deposit["model"] == "scripted-1"
    assert deposit["decision_ms"] <= 1500
    assert rig.bin.physical.tray is None
    assert rig.bin.physical.contents == [BOTTLE]
    assert rig.colour == "green"
    assert rig.bin.agent.runtime.state.deposits_since_empty == 1
    rig.run(3)  # fill re-measured with the door closed, then telemetry
    telemetry = rig.events("/telemetry")
    assert len(telemetry) == telemetry_before + 1
    assert telemetry[-1]["deposits_since_empty"] == 1
    assert telemetry[-1]["weight_kg"] == pytest.approx(0.032, abs=0.002)


@pytest.mark.parametrize(
    ("answer", "item", "reason"),
    [
        (FixedClassification("trash", 0.99), BOTTLE, "category_not_accepted"),
        (FixedClassification("plastic", 0.3), BOTTLE, "low_confidence"),
        (FixedClassification("glass", 0.99), Item("glass", 9000, 5), "too_heavy"),
    ],
)
def test_rejections_keep_the_door_unlocked_and_show_red(
    rig: Rig, answer: FixedClassification, item: Item, reason: str
) -> None:
    rig.classifier.answer = answer
    rig.deposit(item)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["accepted"], deposit["reason"]) == (False, reason)
    assert rig.colour == "red"
    assert not rig.is_locked()
    assert rig.bin.physical.tray == item
    assert rig.bin.agent.runtime.state.deposits_since_empty == 0
    rig.take_back()
    assert len(rig.events("/events/deposit")) == 1
    assert rig.bin.agent.runtime.intake is not None
    assert rig.bin.agent.runtime.intake.phase is Phase.IDLE


def test_rejected_item_left_on_the_tray_is_a_new_attempt(rig: Rig) -> None:
    rig.classifier.answer = FixedClassification("trash", 0.9)
    rig.deposit(BOTTLE)
    rig.bin.physical.door_open = True
    rig.run(1)
    rig.bin.physical.door_open = False
    rig.run(3)
    deposits = rig.events("/events/deposit")
    assert len(deposits) == 2
    assert deposits[0]["deposit_id"] != deposits[1]["deposit_id"]


def test_door_opened_and_closed_with_nothing_records_nothing(rig: Rig) -> None:
    rig.deposit(None)
    assert rig.events("/events/deposit") == []
    assert rig.classifier.calls == []


def test_weight_that_never_settles_is_rejected(rig: Rig) -> None:
    rig.bin.agent.hardware.scale.noise_g = 40.0  # type: ignore[attr-defined]
    rig.deposit(Item("metal", 300, 0.5), settle_s=5)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["accepted"], deposit["reason"]) == (False, "weight_unstable")
    assert rig.classifier.calls == []


def test_reopening_during_settling_starts_over(rig: Rig) -> None:
    physical = rig.bin.physical
    physical.door_open = True
    rig.run(0.5)
    physical.place_on_tray(BOTTLE)
    physical.door_open = False
    rig.run(0.15)  # closed, still settling
    physical.door_open = True
    rig.run(1.0)
    assert rig.events("/events/deposit") == []
    physical.door_open = False
    rig.run(3.0)
    assert len(rig.events("/events/deposit")) == 1


def test_camera_failure_classifies_unknown_and_follows_policy(rig: Rig) -> None:
    rig.camera.fault = "timeout"
    rig.deposit(BOTTLE)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["category"], deposit["accepted"], deposit["reason"]) == (
        "unknown",
        False,
        "unclassified",
    )
    rig.run(10)
    faults = rig.events("/events/fault")
    assert [(f["component"], f["code"], f["active"]) for f in faults] == [
        ("camera", "timeout", True)
    ]
    rig.take_back()
    rig.bin.agent.config.intake.unknown_policy = "accept"
    rig.deposit(BOTTLE)
    assert rig.events("/events/deposit")[-1]["accepted"] is True


def test_scale_failure_leaves_the_decision_to_the_camera(rig: Rig) -> None:
    rig.bin.faults.inject(hx711="floating")
    rig.deposit(BOTTLE)
    (deposit,) = rig.events("/events/deposit")
    assert deposit["accepted"] is True
    assert deposit["weight_g"] == 0.0
    assert rig.classifier.calls == [None]
    rig.run(10)
    assert ("loadcell", "disconnected", True) in [
        (f["component"], f["code"], f["active"]) for f in rig.events("/events/fault")
    ]


def test_flap_jam_faults_locks_and_counts_the_item_once(rig: Rig) -> None:
    rig.bin.faults.inject(flap="jammed")
    rig.deposit(BOTTLE)
    rig.run(10)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["accepted"], deposit["reason"]) == (False, "flap_jammed")
    assert rig.is_locked()
    assert rig.bin.physical.tray == BOTTLE
    assert rig.bin.agent.runtime.state.deposits_since_empty == 0
    assert ("flap", "jammed", True) in [
        (f["component"], f["code"], f["active"]) for f in rig.events("/events/fault")
    ]
    runtime = rig.bin.agent.runtime
    assert not runtime.clear_jam()  # still jammed
    rig.bin.faults.clear("flap")
    assert runtime.clear_jam()
    rig.run(10)
    assert not rig.is_locked()
    assert len(rig.events("/events/deposit")) == 1
    assert ("flap", "jammed", False) in [
        (f["component"], f["code"], f["active"]) for f in rig.events("/events/fault")
    ]


def test_deposit_that_fills_the_bin_locks_it(rig: Rig) -> None:
    rig.bin.physical.contents_volume_l = 0.69 * rig.bin.physical.container_volume_l
    rig.run(1)
    rig.deposit(Item("cardboard", 400, 6.0))
    rig.run(5)
    assert rig.is_locked()
    assert [(a["kind"], a["active"]) for a in rig.events("/events/alarm")] == [("overflow", True)]
    assert rig.events("/telemetry")[-1]["door"] == "locked"


class RefusedWrites:
    """Makes the agent database refuse every write as SQLite does on a full disk."""

    def __init__(self, db: LocalDb, message: str = "database or disk is full") -> None:
        self.db = db
        self.message = message
        self.refusing = False
        self._transaction = db.transaction

        @contextmanager
        def transaction(*, durable: bool = True) -> Iterator[sqlite3.Connection]:
            with self._transaction(durable=durable) as tx:
                if self.refusing:
                    raise sqlite3.OperationalError(self.message)
                yield tx

        db.transaction = transaction  # type: ignore[method-assign]


@pytest.mark.parametrize("message", ["database or disk is full", "database is locked"])
def test_refused_writes_keep_the_bin_serving_and_lose_no_deposit(rig: Rig, message: str) -> None:
    writes = RefusedWrites(rig.bin.agent.db, message)
    runtime = rig.bin.agent.runtime
    rig.run(1)
    writes.refusing = True
    rig.deposit(BOTTLE)  # no exception escapes the runtime's steps
    rig.run(70)  # telemetry, health and checks are due meanwhile
    assert rig.bin.physical.contents == [BOTTLE]
    assert rig.colour == "green"
    assert rig.events("/events/deposit") == []  # nothing could be stored yet
    assert "storage/write_failed" in runtime.state.active_faults
    assert runtime.sensor_health()["storage"] == "degraded"

    writes.refusing = False
    rig.run(2)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["accepted"], deposit["category"]) == (True, "plastic")
    storage = [
        (f["code"], f["active"]) for f in rig.events("/events/fault") if f["component"] == "storage"
    ]
    assert storage == [("write_failed", True), ("write_failed", False)]
    assert message in rig.events("/events/fault")[0]["detail"]
    assert "storage/write_failed" not in runtime.state.active_faults
    stored = LocalDb(rig.bin.agent.config.storage.path, readonly=True)
    assert stored.get(STATE_KEY)["deposits_since_empty"] == 1
    stored.close()
    rig.deposit(BOTTLE)
    assert len(rig.events("/events/deposit")) == 2


@pytest.mark.parametrize("fell_meanwhile", [False, True])
def test_flap_jam_survives_a_restart_and_the_item_is_counted_once(
    rig: Rig, fell_meanwhile: bool
) -> None:
    rig.bin.faults.inject(flap="jammed")
    rig.deposit(BOTTLE)
    rig.run(5)
    (deposit,) = rig.events("/events/deposit")
    assert deposit["reason"] == "flap_jammed"
    faults_before = len(rig.events("/events/fault"))
    first = rig.bin.agent
    first.db.close()
    first.instance_lock.release()

    # The agent restarts with the flap still jammed and the item on the tray.
    rig.bin = make_bin(
        first.config,
        port=1,
        clock=rig.clock,
        camera=rig.camera,
        classifier=rig.classifier,
        physical=rig.bin.physical,
        faults=rig.bin.faults,
    )
    runtime = rig.bin.agent.runtime
    assert rig.is_locked()
    assert runtime.intake is not None
    assert runtime.intake.phase is Phase.JAMMED
    rig.run(60)
    assert "flap/jammed" in runtime.state.active_faults
    assert len(rig.events("/events/fault")) == faults_before  # not cleared, not raised again
    assert not runtime.clear_jam()
    assert rig.is_locked()

    if fell_meanwhile:  # the flap gave way under the item, then stuck
        rig.bin.physical.drop_tray_into_container()
    rig.bin.faults.clear("flap")
    assert runtime.clear_jam()
    assert runtime.clear_jam()  # a second clear counts nothing
    rig.run(10)
    assert not rig.is_locked()
    assert rig.bin.physical.contents == [BOTTLE]
    assert runtime.state.deposits_since_empty == 1
    assert runtime.state.contents_g == pytest.approx(32, abs=2)
    assert runtime.state.jammed_deposit is None
    assert rig.events("/events/deposit") == [deposit]  # still the one event, from the jam
    new_faults = rig.events("/events/fault")[faults_before:]
    assert [(f["component"], f["code"], f["active"]) for f in new_faults] == [
        ("flap", "jammed", False)
    ]
    assert rig.events("/telemetry")[-1]["deposits_since_empty"] == 1


def test_classifier_exception_classifies_unknown_faults_and_carries_on(rig: Rig) -> None:
    rig.classifier.error = RuntimeError("onnxruntime: invalid input shape")
    rig.deposit(BOTTLE)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["category"], deposit["accepted"], deposit["reason"]) == (
        "unknown",
        False,
        "unclassified",
    )
    assert rig.colour == "red"
    assert len(rig.classifier.calls) == 1  # decided once, not retried in a loop
    faults = [(f["component"], f["code"], f["active"]) for f in rig.events("/events/fault")]
    assert faults == [("camera", "classifier_failed", True)]
    assert "invalid input shape" in rig.events("/events/fault")[0]["detail"]
    rig.take_back()
    rig.classifier.error = None
    rig.deposit(BOTTLE)
    assert rig.events("/events/deposit")[-1]["accepted"] is True
    faults = [(f["component"], f["code"], f["active"]) for f in rig.events("/events/fault")]
    assert faults[-1] == ("camera", "classifier_failed", False)


def test_classifier_exception_follows_the_accept_policy(rig: Rig) -> None:
    rig.bin.agent.config.intake.unknown_policy = "accept"
    rig.classifier.error = ValueError("bad tensor")
    rig.deposit(BOTTLE)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["category"], deposit["accepted"]) == ("unknown", True)
    assert rig.bin.physical.contents == [BOTTLE]


def test_unreadable_door_switch_counts_as_open(rig: Rig) -> None:
    hardware = rig.bin.agent.hardware
    door = UnreadableDoor(hardware.door)
    hardware.door = door
    runtime = rig.bin.agent.runtime
    physical = rig.bin.physical
    physical.door_open = True
    rig.run(0.5)
    physical.place_on_tray(BOTTLE)
    physical.door_open = False
    door.broken = True  # the door closes, but nobody can see it
    rig.run(5)
    assert rig.events("/events/deposit") == []  # nothing decided on an unseen door
    assert physical.tray == BOTTLE  # the flap never moved
    assert runtime.door_state() == "open"
    runtime.request_lock("remote", True)
    rig.run(1)
    assert not rig.is_locked()  # never locked on an unseen door

    door.broken = False
    rig.run(3)
    assert rig.is_locked()  # seen closed: the deferred lock engages
    (deposit,) = rig.events("/events/deposit")  # the deposit, decided once
    assert deposit["accepted"] is True
    assert physical.contents == [BOTTLE]


def test_camera_timeout_is_bounded_by_the_decision_budget() -> None:
    assert CAMERA_TIMEOUT_S <= 1.0
    assert camera_timeout(0.5) == 0.5
    for seconds in (0.1, 1.5, 2.0):
        with pytest.raises(ValueError, match=r"outside 0\.2 to 1 s"):
            camera_timeout(seconds)


def test_a_timed_out_capture_still_decides_within_the_budget(rig: Rig) -> None:
    rig.bin.agent.hardware.camera = TimingOutCamera(rig.clock)
    rig.deposit(BOTTLE)
    (deposit,) = rig.events("/events/deposit")
    assert deposit["category"] == "unknown"
    assert deposit["decision_ms"] <= 1500


def test_scale_failure_uses_the_beam_to_see_an_empty_tray(rig: Rig) -> None:
    rig.bin.faults.inject(hx711="floating")
    rig.deposit(None)  # opened and closed with nothing on the tray
    assert rig.events("/events/deposit") == []
    assert rig.classifier.calls == []
    rig.deposit(BOTTLE)
    (deposit,) = rig.events("/events/deposit")
    assert (deposit["accepted"], deposit["weight_g"]) == (True, 0.0)
    assert rig.bin.agent.runtime.state.deposits_since_empty == 1


def test_a_full_disk_loses_no_deposit_and_recovers(rig: Rig) -> None:
    """SQLite's own SQLITE_FULL (the database may not grow), not a simulated error."""
    runtime = rig.bin.agent.runtime
    conn = rig.bin.agent.db.conn
    rig.run(1)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    deposits = 0
    while "storage/write_failed" not in runtime.state.active_faults:
        assert deposits < 50, "the database never filled up"
        rig.deposit(BOTTLE)
        deposits += 1
        assert rig.colour == "green"
    rig.deposit(BOTTLE)  # one more while the disk is full
    deposits += 1
    assert rig.bin.physical.contents == [BOTTLE] * deposits
    conn.execute("PRAGMA max_page_count = 1000000")  # space freed
    rig.run(2)
    assert "storage/write_failed" not in runtime.state.active_faults
    stored = rig.events("/events/deposit")
    assert len(stored) == deposits
    assert len({d["deposit_id"] for d in stored}) == deposits
    assert runtime.state.deposits_since_empty == deposits
    storage = [
        (f["code"], f["active"]) for f in rig.events("/events/fault") if f["component"] == "storage"
    ]
    assert storage == [("write_failed", True), ("write_failed", False)]


def test_the_configured_capture_timeout_reaches_the_intake(tmp_path: Path) -> None:
    config = bin_config(tmp_path)
    config.intake.capture_timeout_s = 0.4
    test_bin = make_bin(config, port=1, classifier=ScriptedClassifier())
    assert test_bin.agent.runtime.intake is not None
    assert test_bin.agent.runtime.intake.camera_timeout_s == 0.4
    test_bin.agent.db.close()
    test_bin.agent.instance_lock.release()
