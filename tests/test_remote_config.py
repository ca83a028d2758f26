"""Remote configuration on the agent: applied, rejected, ignored, rolled back, restored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.clock import ManualClock
from agent.remote.config import HANDLED_KEY, STORED_KEY
from firmware_config import DeviceConfig, merge_remote
from firmware_config.errors import ConfigError
from protocol import TopicKind, decode_bin_message
from protocol.messages import ConfigReported, State
from simulator.device.physical import Item
from tests.support.bins import bin_config, make_bin
from tests.support.fakes import ScriptedClassifier
from tests.support.remote import Remote, close, desired, raw


def config_for(tmp_path: Path, **sections: str) -> DeviceConfig:
    return bin_config(tmp_path, intervals="telemetry_s = 300\nhealth_s = 900", **sections)


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    clock = ManualClock()
    test_bin = make_bin(config_for(tmp_path), port=1, clock=clock, classifier=ScriptedClassifier())
    yield Remote(test_bin, clock)
    close(test_bin)


def push(remote: Remote, version: int, config: dict[str, object]) -> None:
    remote.send(TopicKind.CONFIG_DESIRED, desired(version, config, remote.clock.now()))


def test_applied_configuration_is_in_force_reported_and_stored(remote: Remote) -> None:
    runtime = remote.agent.runtime
    push(remote, 1, {"intake": {"min_confidence": 0.85}, "intervals": {"telemetry_s": 60}})

    (report,) = remote.reports()
    assert report["version"] == 1
    assert report["status"] == "applied"
    assert report["error"] is None
    assert runtime.config.config_version == 1
    assert runtime.config.intake.min_confidence == 0.85
    assert runtime.intake is not None
    assert runtime.intake.policy.min_confidence == 0.85
    assert runtime.config.intervals.telemetry_s == 60
    # Untouched sections keep the file's values; drivers keep their calibration object.
    assert runtime.config.intake.max_item_g == 5000.0
    assert runtime.config.calibration is remote.agent.config.calibration
    # config/reported is retained and stored with the overlay in the same transaction.
    (row,) = [r for r in remote.agent.outbox.pending(0, 1000) if r.retain]
    assert row.topic == "bins/v1/bin-001/config/reported"
    _, message = decode_bin_message(row.topic, row.payload)
    assert isinstance(message, ConfigReported)
    assert remote.agent.db.get(STORED_KEY)["version"] == 1
    assert remote.agent.db.get(HANDLED_KEY) == 1

    # The new telemetry period is in force at once, and health and birth say version 1.
    remote.run(130)
    assert len(remote.stored("/telemetry")) >= 2
    runtime.emit_health()
    assert remote.stored("/health")[-1]["config_version"] == 1
    birth = remote.agent.messages.state(runtime.outbox.last_seq, 1, True, "connect")
    assert State.model_validate_json(birth).config_version == 1


def test_door_poll_period_follows_the_configuration(remote: Remote) -> None:
    runtime = remote.agent.runtime
    runtime.idle_poll_s = 0.05  # as `bin-agent run` sets it from intervals.door_poll_ms
    push(remote, 1, {"intervals": {"door_poll_ms": 200}})
    assert runtime.idle_poll_s == 0.2


def test_rejected_configuration_names_the_key_and_changes_nothing(remote: Remote) -> None:
    before = remote.agent.runtime.config
    push(remote, 1, {"intake": {"min_confidence": 1.5}})
    push(remote, 2, {"identity": {"bin_id": "someone-else"}})
    push(remote, 3, {"intake": {"min_confidense": 0.5}})

    first, second, third = remote.reports()
    assert (first["version"], first["status"]) == (1, "rejected")
    assert first["error"].startswith("intake.min_confidence:")
    assert second["status"] == "rejected"
    assert "identity: not remotely settable" in second["error"]
    assert "did you mean 'min_confidence'" in third["error"]
    assert remote.agent.runtime.config is before
    assert remote.agent.runtime.config.config_version == 0
    assert remote.agent.db.get(STORED_KEY) is None


def test_older_or_equal_version_is_ignored(remote: Remote) -> None:
    push(remote, 5, {"thresholds": {"lock_fill_pct": 90}})
    push(remote, 5, {"thresholds": {"lock_fill_pct": 80}})  # redelivered retained message
    push(remote, 4, {"thresholds": {"lock_fill_pct": 70}})
    assert [(r["version"], r["status"]) for r in remote.reports()] == [(5, "applied")]
    assert remote.agent.runtime.config.thresholds.lock_fill_pct == 90
    # A rejected version counts as handled too: sending it again changes nothing.
    push(remote, 6, {"thresholds": {"lock_fill_pct": 10}})
    push(remote, 6, {"thresholds": {"lock_fill_pct": 10}})
    assert [r["status"] for r in remote.reports()] == ["applied", "rejected"]
    push(remote, 7, {"thresholds": {"lock_fill_pct": 92}})
    assert remote.reports()[-1]["status"] == "applied"
    assert remote.agent.runtime.config.config_version == 7


def test_failing_self_check_rolls_back(remote: Remote) -> None:
    push(remote, 1, {"intake": {"min_confidence": 0.7}})
    previous = remote.agent.runtime.config
    # Valid for the schema, but 20 readings 0.1 s apart cannot settle within 1.5 s.
    push(remote, 2, {"intake": {"settle_readings": 20, "settle_timeout_s": 1.5}})

    report = remote.reports()[-1]
    assert (report["version"], report["status"]) == (2, "rolled_back")
    assert report["error"].startswith("intake.settle_timeout_s:")
    runtime = remote.agent.runtime
    assert runtime.config is previous
    assert runtime.config.config_version == 1
    assert runtime.intake is not None
    assert runtime.intake.policy.settle_readings == 3
    assert remote.agent.db.get(STORED_KEY)["version"] == 1


def test_lock_threshold_beyond_the_blind_zone_rolls_back(tmp_path: Path) -> None:
    # empty 1000 mm, full 250 mm, blind zone 400 mm: nothing above 80 % can be measured.
    config = config_for(
        tmp_path,
        ultrasonic="blind_zone_mm = 400",
        thresholds="lock_fill_pct = 78\nunlock_fill_pct = 70",
    )
    clock = ManualClock()
    test_bin = make_bin(config, port=1, clock=clock)
    try:
        remote = Remote(test_bin, clock)
        push(remote, 1, {"thresholds": {"lock_fill_pct": 90, "unlock_fill_pct": 70}})
        report = remote.reports()[-1]
        assert report["status"] == "rolled_back"
        assert report["error"].startswith("thresholds.lock_fill_pct: 90 % is above")
        push(remote, 2, {"thresholds": {"lock_fill_pct": 79, "unlock_fill_pct": 70}})
        assert remote.reports()[-1]["status"] == "applied"
    finally:
        close(test_bin)


def test_a_check_failing_before_the_change_does_not_block_it(tmp_path: Path) -> None:
    # The file itself sets a lock threshold the sensor cannot reach: not the cloud's fault.
    config = config_for(tmp_path, ultrasonic="blind_zone_mm = 400")
    clock = ManualClock()
    test_bin = make_bin(config, port=1, clock=clock)
    try:
        remote = Remote(test_bin, clock)
        push(remote, 1, {"intervals": {"telemetry_s": 120}})
        assert remote.reports()[-1]["status"] == "applied"
    finally:
        close(test_bin)


def test_configuration_waits_for_a_deposit_to_finish(remote: Remote) -> None:
    physical = remote.bin.physical
    physical.door_open = True
    remote.run(0.5)
    physical.place_on_tray(Item("plastic", mass_g=40.0, volume_l=1.0))
    push(remote, 1, {"intake": {"min_confidence": 0.99}})
    remote.run(1.0)
    assert remote.reports() == []  # the deposit in progress keeps its policy
    physical.door_open = False
    remote.run(3.0)
    (deposit,) = remote.stored("/events/deposit")
    assert deposit["accepted"] is True  # decided with min_confidence 0.6 (0.95 answer)
    assert [r["status"] for r in remote.reports()] == ["applied"]
    assert remote.agent.runtime.config.intake.min_confidence == 0.99


def test_unreadable_desired_configuration(remote: Remote) -> None:
    remote.send(TopicKind.CONFIG_DESIRED, raw({"version": 3, "config": "nope"}))
    remote.send(TopicKind.CONFIG_DESIRED, raw({"config": {}}))
    remote.send(TopicKind.CONFIG_DESIRED, b"not json")
    (report,) = remote.reports()
    assert (report["version"], report["status"]) == (3, "rejected")
    assert "config" in report["error"]


def test_applied_configuration_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    first = make_bin(config_for(tmp_path), port=1, clock=clock)
    remote = Remote(first, clock)
    overlay: dict[str, object] = {
        "intervals": {"health_s": 120},
        "intake": {"accepted_categories": ["glass"]},
    }
    push(remote, 4, overlay)
    close(first)

    second = make_bin(config_for(tmp_path), port=1, clock=clock)
    try:
        again = Remote(second, clock)
        config = second.agent.runtime.config
        assert config.config_version == 4
        assert config.intervals.health_s == 120
        assert config.intake.accepted_categories == ["glass"]
        # The retained desired configuration arrives again on connect: nothing happens.
        push(again, 4, overlay)
        assert [r["version"] for r in again.reports()] == [4]  # only the first run's report
    finally:
        close(second)


def test_stored_overlay_that_no_longer_fits_the_file_is_dropped(tmp_path: Path) -> None:
    clock = ManualClock()
    first = make_bin(config_for(tmp_path), port=1, clock=clock)
    push(Remote(first, clock), 2, {"thresholds": {"unlock_fill_pct": 90}})
    close(first)

    # A technician lowers the lock threshold in the file below the remote unlock level.
    edited = config_for(tmp_path, thresholds="lock_fill_pct = 88\nunlock_fill_pct = 80")
    second = make_bin(edited, port=1, clock=clock)
    try:
        remote = Remote(second, clock)
        config = second.agent.runtime.config
        assert config.config_version == 0
        assert config.thresholds.unlock_fill_pct == 80
        last = remote.reports()[-1]
        assert (last["version"], last["status"]) == (2, "rolled_back")
        assert "thresholds.unlock_fill_pct" in last["error"]
        assert second.agent.db.get(STORED_KEY) is None
    finally:
        close(second)


def test_file_with_a_newer_version_takes_over(tmp_path: Path) -> None:
    clock = ManualClock()
    first = make_bin(config_for(tmp_path), port=1, clock=clock)
    push(Remote(first, clock), 2, {"intake": {"min_confidence": 0.9}})
    close(first)
    text_version = bin_config(tmp_path).model_copy(update={"config_version": 3})
    second = make_bin(text_version, port=1, clock=clock)
    try:
        assert second.agent.runtime.config.config_version == 3
        assert second.agent.runtime.config.intake.min_confidence == 0.6
    finally:
        close(second)


def test_merge_remote_refuses_sections_and_types() -> None:
    base = bin_config(Path("/tmp"))
    with pytest.raises(ConfigError) as err:
        merge_remote(base, {"broker": {"host": "evil"}, "intake": [1]}, version=1)
    paths = [issue.path for issue in err.value.issues]
    assert paths == ["broker", "intake"]
    merged = merge_remote(base, {}, version=9)
    assert merged.config_version == 9
    assert merged.intake == base.intake
