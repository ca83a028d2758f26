"""Remote commands on the agent: every command, expiry, unknown names, redelivery, busy."""

from __future__ import annotations

import base64
import io
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from agent.clock import ManualClock
from agent.hardware.devices import DeviceStatus
from firmware_config.schema import Calibration
from protocol import TopicKind, decode_bin_message
from protocol.codec import MAX_PAYLOAD_BYTES
from protocol.messages import CommandResult
from simulator.device.physical import Item
from tests.support.bins import bin_config, make_bin
from tests.support.fakes import FaultyCamera, FixedClassification, ScriptedClassifier
from tests.support.remote import Remote, close, command, raw


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    clock = ManualClock()
    test_bin = make_bin(
        bin_config(tmp_path),
        port=1,
        clock=clock,
        classifier=ScriptedClassifier(),
        camera=FaultyCamera(),
    )
    yield Remote(test_bin, clock)
    close(test_bin)


def test_ping_answers_with_versions_and_the_command_id(remote: Remote) -> None:
    remote.run(5)
    answer = remote.cmd("ping")
    assert answer["ok"] is True
    assert answer["error"] is None
    result = answer["result"]
    assert result["uptime_s"] >= 5
    assert result["agent_version"]
    assert result["config_version"] == 0
    assert result["model_version"] == "scripted-1"
    assert result["clock_synced"] is True
    rows = [r for r in remote.agent.outbox.pending(0, 1000) if r.topic.endswith("/cmd/result")]
    _, message = decode_bin_message(rows[0].topic, rows[0].payload)
    assert isinstance(message, CommandResult)
    assert not rows[0].retain


def test_unknown_command_is_answered_not_executed(remote: Remote) -> None:
    answer = remote.cmd("self-destruct")
    assert answer["ok"] is False
    assert answer["error"].startswith("unknown command 'self-destruct'; known: ping, selftest")


def test_expired_command_is_refused_and_never_executed(remote: Remote) -> None:
    cid, payload = command("lock", remote.clock.now() - timedelta(minutes=5), ttl_s=60)
    remote.send(TopicKind.CMD, payload)
    (answer,) = remote.results()
    assert answer["id"] == cid
    assert answer["ok"] is False
    assert answer["error"].startswith("expired at ")
    assert not remote.agent.hardware.lock.locked
    # Exactly at expires_at counts as expired too.
    now = remote.clock.now()
    _, payload = command("lock", now - timedelta(seconds=60), ttl_s=60)
    remote.send(TopicKind.CMD, payload)
    assert remote.results()[-1]["ok"] is False
    assert not remote.agent.hardware.lock.locked


def test_unsynchronised_clock_runs_only_ping(remote: Remote) -> None:
    remote.clock.set_wall(remote.clock.now(), synced=False)
    refused = remote.cmd("lock")
    assert refused["ok"] is False
    assert "clock is not synchronised" in refused["error"]
    assert refused["result"]["clock_synced"] is False
    assert not remote.agent.hardware.lock.locked
    assert remote.cmd("ping")["ok"] is True


def test_redelivered_command_runs_once(remote: Remote) -> None:
    cid, payload = command("lock", remote.clock.now())
    remote.send(TopicKind.CMD, payload)
    remote.agent.runtime.request_lock("remote", False)  # someone unlocked in between
    remote.send(TopicKind.CMD, payload)  # QoS 1 redelivery of the same command
    assert [r["id"] for r in remote.results()] == [cid]
    assert not remote.agent.hardware.lock.locked


def test_remembered_ids_are_bounded(remote: Remote) -> None:
    remote.agent.commands.remember = 3
    first, payload = command("ping", remote.clock.now())
    remote.send(TopicKind.CMD, payload)
    for _ in range(4):
        remote.cmd("ping")
    rows = remote.agent.db.query("SELECT id FROM commands_seen")
    assert len(rows) == 3
    assert first not in {row[0] for row in rows}


def test_invalid_commands(remote: Remote) -> None:
    answer = remote.cmd("capture", colour=True)
    assert answer["ok"] is False
    assert answer["error"] == "args.colour: unknown argument"
    answer = remote.cmd("capture", save="maybe")
    assert answer["error"].startswith("args.save: ")
    # Missing expires_at: answered by id, since the caller is waiting for it.
    remote.send(TopicKind.CMD, raw({"id": "c-1", "name": "ping", "issued_at": "x"}))
    assert remote.results()[-1]["id"] == "c-1"
    assert remote.results()[-1]["error"].startswith("invalid command: ")
    before = len(remote.results())
    remote.send(TopicKind.CMD, raw({"name": "ping"}))  # nothing to correlate with
    remote.send(TopicKind.CMD, b"\xff\xfe")
    assert len(remote.results()) == before


def test_lock_and_unlock(remote: Remote) -> None:
    locked = remote.cmd("lock")
    assert locked["ok"] is True
    assert locked["result"] == {"locked": True, "lock_reasons": ["remote"]}
    assert remote.bin.physical.door_locked
    unlocked = remote.cmd("unlock")
    assert unlocked["ok"] is True
    assert unlocked["result"]["locked"] is False
    assert not remote.bin.physical.door_locked


def test_unlock_cannot_override_an_overflow(remote: Remote) -> None:
    remote.cmd("lock")
    remote.agent.runtime.request_lock("overflow", True)
    answer = remote.cmd("unlock")
    assert answer["ok"] is False
    assert answer["error"] == "the door stays locked: overflow"
    assert answer["result"]["lock_reasons"] == ["overflow"]
    assert remote.agent.hardware.lock.locked


def test_unlock_clears_a_jammed_flap(remote: Remote) -> None:
    remote.bin.faults.inject(flap="jammed")
    remote.bin.physical.door_open = True
    remote.run(0.5)
    remote.bin.physical.place_on_tray(Item("plastic", mass_g=40.0, volume_l=1.0))
    remote.bin.physical.door_open = False
    remote.run(3)
    assert remote.agent.runtime.state.lock_reasons == ["flap_jammed"]
    still = remote.cmd("unlock")
    assert still["ok"] is False
    assert still["result"]["flap_jam_cleared"] is False
    remote.bin.faults.clear("flap")
    cleared = remote.cmd("unlock")
    assert cleared["ok"] is True
    assert cleared["result"]["flap_jam_cleared"] is True
    assert not remote.agent.hardware.lock.locked


def test_selftest_reports_every_check(remote: Remote) -> None:
    answer = remote.cmd("selftest")
    assert answer["ok"] is True
    names = [check["name"] for check in answer["result"]["checks"]]
    assert names == [
        "temperature",
        "fill",
        "scale",
        "door",
        "beam",
        "camera",
        "flap",
        "lock",
        "indicators",
    ]
    assert answer["result"]["failed"] == []


def test_selftest_failure_names_the_component(remote: Remote) -> None:
    camera = remote.agent.hardware.camera
    assert isinstance(camera, FaultyCamera)
    camera.fault = "timeout"
    answer = remote.cmd("selftest")
    assert answer["ok"] is False
    assert answer["error"] == "failed: camera"
    assert answer["result"]["failed"] == ["camera"]


def test_busy_commands_wait_for_the_deposit(remote: Remote) -> None:
    remote.bin.physical.door_open = True
    remote.run(0.5)
    for name in ("selftest", "tare", "restart"):
        answer = remote.cmd(name)
        assert answer["ok"] is False, name
        assert answer["error"].startswith("busy: a deposit is in progress")
    assert not remote.agent.restart_requested.is_set()
    assert remote.cmd("ping")["ok"] is True


class RawFakeScale:
    """A load cell with raw counts, as the HX711 driver offers (calibratable)."""

    component = "loadcell"

    def __init__(self, raw: int) -> None:
        self.calibration = Calibration()
        self.raw = raw

    def status(self) -> DeviceStatus:
        return DeviceStatus.ok()

    def read_raw(self, samples: int | None = None) -> int:
        return self.raw

    def read_g(self, samples: int | None = None) -> float:
        return (self.raw - self.calibration.tare_offset) / self.calibration.scale_counts_per_g

    def tare(self) -> int:
        self.calibration.tare_offset = self.raw
        return self.raw


def test_tare_writes_the_new_zero_into_the_configuration_file(
    remote: Remote, tmp_path: Path
) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        '# the bin\n[identity]\nbin_id = "bin-001"\n[hardware]\nbackend = "sim-device"\n'
        "\n[calibration]\ntare_offset = 5\n",
        encoding="utf-8",
    )
    remote.agent.hardware.scale = RawFakeScale(84_123)
    remote.agent.commands.config_path = path
    answer = remote.cmd("tare")
    assert answer["ok"] is True
    assert answer["result"]["tare_offset"] == 84_123
    assert answer["result"]["written_to"] == str(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# the bin\n")
    assert tomllib.loads(text)["calibration"]["tare_offset"] == 84_123


def test_tare_of_a_simulated_scale_is_in_memory(remote: Remote) -> None:
    remote.bin.physical.door_open = False
    answer = remote.cmd("tare")
    assert answer["ok"] is True
    assert answer["result"]["written_to"] is None
    assert "memory" in answer["result"]["note"]


def test_tare_refused_with_the_door_open(remote: Remote) -> None:
    remote.agent.runtime.intake = None  # no deposit machine: only the door matters
    remote.bin.physical.door_open = True
    answer = remote.cmd("tare")
    assert answer["ok"] is False
    assert "door is open" in answer["error"]


def test_capture_describes_saves_and_thumbnails_the_photo(remote: Remote, tmp_path: Path) -> None:
    answer = remote.cmd("capture", save=True, thumbnail="true")
    assert answer["ok"] is True
    result = answer["result"]
    assert (result["width"], result["height"]) == (64, 64)
    assert result["mean_brightness"] == 128.0
    assert len(result["sha256"]) == 64
    saved = Path(result["path"])
    assert saved.parent == tmp_path / "captures"
    assert saved.stat().st_size == result["jpeg_bytes"]
    with Image.open(saved) as image:
        assert image.format == "JPEG"
    thumbnail = base64.b64decode(result["thumbnail_jpeg_base64"])
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.size == (64, 64)
    rows = [r for r in remote.agent.outbox.pending(0, 1000) if r.topic.endswith("/cmd/result")]
    assert len(rows[-1].payload) < MAX_PAYLOAD_BYTES


def test_capture_keeps_only_the_newest_photos(remote: Remote, tmp_path: Path) -> None:
    for _ in range(25):
        remote.clock.advance(1.0)
        remote.cmd("capture", save=True)
    assert len(list((tmp_path / "captures").glob("capture-*.jpg"))) == 20


def test_capture_with_a_failed_camera(remote: Remote) -> None:
    camera = remote.agent.hardware.camera
    assert isinstance(camera, FaultyCamera)
    camera.fault = "absent"
    answer = remote.cmd("capture")
    assert answer["ok"] is False
    assert answer["error"] == "camera absent: simulated absent"


def test_restart_answers_then_asks_the_process_to_stop(remote: Remote) -> None:
    answer = remote.cmd("restart")
    assert answer["ok"] is True
    assert answer["result"]["exit_code"] == 75
    assert remote.agent.restart_requested.is_set()
    assert remote.agent._stop.is_set()


def test_tray_commands_are_refused_while_the_tray_may_hold_an_item(remote: Remote) -> None:
    physical = remote.bin.physical
    classifier = remote.agent.runtime.intake.classifier  # type: ignore[union-attr]
    assert isinstance(classifier, ScriptedClassifier)
    classifier.answer = FixedClassification("trash", 0.99)
    offset_before = remote.agent.hardware.scale.offset_g  # type: ignore[attr-defined]
    physical.door_open = True
    remote.run(0.5)
    physical.place_on_tray(Item("plastic", mass_g=40.0, volume_l=1.0))
    physical.door_open = False
    remote.run(3)  # rejected: the item stays on the tray, the door unlocked
    for name in ("selftest", "tare"):
        answer = remote.cmd(name)
        assert answer["ok"] is False, name
        assert answer["error"] == (
            f"tray occupied: a rejected item may still lie on the tray; "
            f"{name} runs only with the tray empty"
        )
    assert physical.tray is not None  # the flap never moved
    assert physical.contents == []
    assert remote.agent.hardware.scale.offset_g == offset_before  # type: ignore[attr-defined]

    physical.door_open = True
    remote.run(0.5)
    physical.take_from_tray()
    physical.hand_in_chamber = True
    physical.door_open = False
    remote.run(3)
    answer = remote.cmd("tare")
    assert answer["ok"] is False
    assert answer["error"].startswith("tray occupied: the intake beam is broken")
    physical.hand_in_chamber = False
    assert remote.cmd("tare")["ok"] is True
    assert remote.cmd("selftest")["ok"] is True


def test_selftest_never_drops_the_item_of_a_jammed_flap(remote: Remote) -> None:
    remote.bin.faults.inject(flap="jammed")
    physical = remote.bin.physical
    physical.door_open = True
    remote.run(0.5)
    physical.place_on_tray(Item("plastic", mass_g=40.0, volume_l=1.0))
    physical.door_open = False
    remote.run(3)
    remote.bin.faults.clear("flap")  # freed by hand, but the jam is not cleared yet
    answer = remote.cmd("selftest")
    assert answer["ok"] is False
    assert answer["error"].startswith("tray occupied: the flap is jammed with an item")
    assert physical.contents == []
