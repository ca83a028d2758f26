"""Remote commands and configuration on the bridge: sending, correlating, timing out,
versioning, validating, and desired versus reported.

Driven through :class:`cloud_bridge.engine.processor.Processor` on an in-memory store; the
end-to-end tests repeat them with the real agent through Mosquitto.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from cloud_bridge.config.settings import validate_settings
from cloud_bridge.domain.inbound import Inbound
from cloud_bridge.domain.records import CommandRecord, DesiredConfig, Publication
from cloud_bridge.domain.ticket_rules import config_state
from cloud_bridge.engine.processor import Processor
from cloud_bridge.errors import InvalidAction, NotFound
from cloud_bridge.services.remote_commands import CommandService
from cloud_bridge.services.remote_config import (
    ConfigFileError,
    InvalidConfig,
    check_overlay,
    load_overlay,
)
from cloud_bridge.store.sqlite.store import SQLiteStore
from protocol import Command, ConfigDesired, decode
from tests.support import bin_messages as msg
from tests.support.bridge_fixtures import FakeNow


@pytest.fixture
def processor(store: SQLiteStore, clock: FakeNow) -> Processor:
    settings = validate_settings({"commands": {"default_ttl_s": 60, "result_grace_s": 10}})
    p = Processor(settings, store, clock)
    numbers = count(1)
    p.commands = CommandService(
        settings, store, clock, p.fleet, p.notifier, new_id=lambda: f"cmd-{next(numbers)}"
    )
    p.process(
        [
            Inbound(*msg.state("bin-001", 1, region="north")),
            Inbound(*msg.state("bin-002", 1, region="north")),
            Inbound(*msg.state("bin-003", 1, region="south")),
        ]
    )
    return p


def send(
    p: Processor, bin_id: str, name: str, ttl_s: float | None = None, **args: Any
) -> tuple[CommandRecord, list[Publication]]:
    record, outcome = p.run(lambda: p.send_command(bin_id, name, args, ttl_s, "alice"))
    return record, outcome.publications


def push(
    p: Processor, config: dict[str, Any], *, bin_id: str | None = None, region: str | None = None
) -> tuple[list[DesiredConfig], list[Publication]]:
    pushed, outcome = p.run(
        lambda: p.push_config(config, bin_id=bin_id, region=region, actor="alice")
    )
    return pushed, outcome.publications


# -- commands ---------------------------------------------------------------------------


def test_a_command_is_stored_and_published_with_its_lifetime(
    processor: Processor, store: SQLiteStore, clock: FakeNow
) -> None:
    record, (publication,) = send(processor, "bin-001", "capture", ttl_s=30, thumbnail=True)
    assert publication.topic == "bins/v1/bin-001/cmd"
    assert not publication.retain
    command = decode(Command, publication.payload)
    assert (command.id, command.name, command.args) == ("cmd-1", "capture", {"thumbnail": True})
    assert command.issued_at == clock.now
    assert command.expires_at == clock.now + timedelta(seconds=30)
    assert store.get_command("cmd-1") == record
    assert record.status == "pending"
    default, _ = send(processor, "bin-001", "ping")
    assert default.expires_at - default.issued_at == timedelta(seconds=60)


@pytest.mark.parametrize(
    ("bin_id", "name", "ttl", "error", "field"),
    [
        ("bin-001", "dance", None, InvalidAction, "name"),
        ("bin-001", "ping", 0.5, InvalidAction, "ttl_s"),
        ("bin-001", "ping", 10 * 86_400, InvalidAction, "ttl_s"),
        ("bin-404", "ping", None, NotFound, "bin_id"),
    ],
)
def test_bad_commands_are_refused_and_nothing_is_sent(
    processor: Processor,
    store: SQLiteStore,
    bin_id: str,
    name: str,
    ttl: float | None,
    error: type[Exception],
    field: str,
) -> None:
    with pytest.raises(error) as caught:
        send(processor, bin_id, name, ttl_s=ttl)
    assert getattr(caught.value, "field", None) == field
    assert store.list_commands() == []
    assert store.pending_publications() == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"reason": float("inf")}, "reason must be a finite number"),
        ({"n": [1, 2**64]}, "n[1] is outside the 64-bit integer range"),
    ],
)
def test_args_json_cannot_carry_are_refused_naming_the_key(
    processor: Processor, store: SQLiteStore, args: dict[str, Any], named: str
) -> None:
    # The CLI reaches the service without the API's body model: same refusal, no 500.
    with pytest.raises(InvalidAction, match=re.escape(named)) as caught:
        send(processor, "bin-001", "lock", **args)
    assert caught.value.field == "args"
    assert store.list_commands() == []
    assert store.pending_publications() == []


def test_answers_are_correlated_by_id_and_bin(
    processor: Processor, store: SQLiteStore, clock: FakeNow
) -> None:
    first, _ = send(processor, "bin-001", "ping")
    second, _ = send(processor, "bin-001", "selftest")
    clock.advance(seconds=2)
    outcome = processor.process(
        [
            Inbound(*msg.command_result("bin-002", 5, first.command_id)),  # another bin: ignored
            Inbound(*msg.command_result("bin-001", 6, "cmd-elsewhere")),  # not ours: ignored
            Inbound(
                *msg.command_result(
                    "bin-001", 7, second.command_id, ok=False, error="failed: flap", result={"x": 1}
                )
            ),
            Inbound(*msg.command_result("bin-001", 8, first.command_id, result={"uptime_s": 9})),
        ]
    )
    assert outcome.settled == [second.command_id, first.command_id]
    ping = store.get_command(first.command_id)
    assert ping is not None
    assert (ping.status, ping.result, ping.error) == ("ok", {"uptime_s": 9}, None)
    assert ping.answered_at == clock.now
    selftest = store.get_command(second.command_id)
    assert selftest is not None
    assert (selftest.status, selftest.error) == ("failed", "failed: flap")
    assert selftest.result == {"x": 1}
    # A second answer to the same command changes nothing.
    again = processor.process([Inbound(*msg.command_result("bin-001", 9, first.command_id,
                                                           ok=False))])  # fmt: skip
    assert again.settled == []
    assert store.get_command(first.command_id) == ping


def test_an_unanswered_command_times_out_and_a_late_answer_still_counts(
    processor: Processor, store: SQLiteStore, clock: FakeNow
) -> None:
    record, _ = send(processor, "bin-001", "tare", ttl_s=20)
    clock.advance(seconds=29)  # expired, but its answer may be on the way
    assert processor.tick().settled == []
    clock.advance(seconds=1)
    assert processor.tick().settled == [record.command_id]
    timed_out = store.get_command(record.command_id)
    assert timed_out is not None
    assert (timed_out.status, timed_out.timed_out_at) == ("timed_out", clock.now)
    assert store.list_commands(status="pending") == []
    clock.advance(minutes=5)
    late = processor.process(
        [Inbound(*msg.command_result("bin-001", 3, record.command_id, ok=False,
                                     error="expired at ..."))]
    )  # fmt: skip
    assert late.settled == [record.command_id]
    answered = store.get_command(record.command_id)
    assert answered is not None
    assert (answered.status, answered.error) == ("failed", "expired at ...")
    assert answered.timed_out_at is not None


def test_pending_commands_survive_a_restart(
    processor: Processor, store: SQLiteStore, clock: FakeNow
) -> None:
    record, _ = send(processor, "bin-001", "ping", ttl_s=5)
    again = Processor(validate_settings({"commands": {"result_grace_s": 0}}), store, clock)
    clock.advance(seconds=5)
    assert again.tick().settled == [record.command_id]


# -- configuration ----------------------------------------------------------------------


def test_a_push_is_versioned_per_bin_retained_and_stored(
    processor: Processor, store: SQLiteStore, clock: FakeNow
) -> None:
    overlay = {"intake": {"min_confidence": 0.75}}
    (desired,), (publication,) = push(processor, overlay, bin_id="bin-001")
    # Its birth said config_version 3: the bin would ignore 3 or lower.
    assert desired.version == 4
    assert publication.topic == "bins/v1/bin-001/config/desired"
    assert publication.retain
    message = decode(ConfigDesired, publication.payload)
    assert (message.version, message.config, message.issued_at) == (4, overlay, clock.now)
    assert store.get_desired("bin-001") == desired
    assert desired.actor == "alice"
    (record,) = [b for b in store.load_bins() if b.bin_id == "bin-001"]
    assert (record.desired_version, record.desired_at) == (4, clock.now)
    # The bin reported a higher version than any the bridge knows (pushed by hand): above it.
    processor.process([Inbound(*msg.config_reported("bin-001", 2, 9, "rejected", "x: no"))])
    (next_one,), _ = push(processor, overlay, bin_id="bin-001")
    assert next_one.version == 10
    assert store.get_desired("bin-001", 4) == desired


def test_a_region_push_sends_each_bin_its_own_version(
    processor: Processor, store: SQLiteStore
) -> None:
    push(processor, {"intervals": {"telemetry_s": 120}}, bin_id="bin-002")
    pushed, publications = push(processor, {"intervals": {"telemetry_s": 60}}, region="north")
    assert [(d.bin_id, d.version) for d in pushed] == [("bin-001", 4), ("bin-002", 5)]
    assert [p.topic for p in publications] == [
        "bins/v1/bin-001/config/desired",
        "bins/v1/bin-002/config/desired",
    ]
    assert all(p.retain for p in publications)
    with pytest.raises(NotFound) as caught:
        push(processor, {}, region="west")
    assert caught.value.field == "region"
    with pytest.raises(InvalidAction) as both:
        push(processor, {}, bin_id="bin-001", region="north")
    assert both.value.field == "bin_id"


@pytest.mark.parametrize(
    ("overlay", "named"),
    [
        ({"intake": {"min_confidence": 1.5}}, "intake.min_confidence"),
        ({"intake": {"min_confidense": 0.5}}, "did you mean 'min_confidence'"),
        ({"identity": {"bin_id": "someone-else"}}, "identity: not remotely settable"),
        ({"thresholds": {"lock_fill_pct": 80}}, "thresholds"),  # below the default unlock level
        ({"intervals": 5}, "intervals: must be an object"),
        ({"paint": {}}, "paint: unknown section"),
    ],
)
def test_an_invalid_overlay_names_its_key_and_nothing_is_pushed(
    processor: Processor, store: SQLiteStore, overlay: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidConfig) as caught:
        push(processor, overlay, bin_id="bin-001")
    assert named in str(caught.value)
    assert store.get_desired("bin-001") is None
    assert store.pending_publications() == []
    (record,) = [b for b in store.load_bins() if b.bin_id == "bin-001"]
    assert record.desired_version is None


def test_an_empty_overlay_is_valid_it_puts_the_files_values_back() -> None:
    check_overlay({})


def test_config_state_follows_desired_and_reported(
    processor: Processor, store: SQLiteStore, clock: FakeNow
) -> None:
    def state() -> str | None:
        (record,) = [b for b in store.load_bins() if b.bin_id == "bin-001"]
        return config_state(record, clock.now, 600)

    assert state() is None
    push(processor, {"intake": {"min_confidence": 0.7}}, bin_id="bin-001")  # version 4
    assert state() == "pending"
    clock.advance(minutes=10)
    assert state() == "overdue"
    processor.process([Inbound(*msg.config_reported("bin-001", 2, 4, "rolled_back", "x"))])
    assert state() == "rolled_back"
    push(processor, {"intake": {"min_confidence": 0.7}}, bin_id="bin-001")  # version 5
    assert state() == "pending"
    processor.process([Inbound(*msg.health("bin-001", 3, config_version=5))])
    assert state() == "applied"  # its health already runs version 5
    push(processor, {}, bin_id="bin-001")  # version 6
    processor.process([Inbound(*msg.config_reported("bin-001", 4, 7, "applied"))])
    assert state() == "superseded"  # someone else's version 7


def test_overlay_files_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "north.toml"
    toml.write_text("[intake]\nmin_confidence = 0.8\n[intervals]\ntelemetry_s = 120\n")
    assert load_overlay(toml) == {"intake": {"min_confidence": 0.8},
                                  "intervals": {"telemetry_s": 120}}  # fmt: skip
    as_json = tmp_path / "north.json"
    as_json.write_text(json.dumps({"thresholds": {"fire_temp_c": 65}}))
    assert load_overlay(as_json) == {"thresholds": {"fire_temp_c": 65}}
    for name, text, named in (
        ("bad.toml", "[intake\n", "bad.toml"),
        ("bad.json", "[1, 2]", "must hold an object"),
        ("key.toml", "[intake]\nmin_confidence = 2\n", "intake.min_confidence"),
        ("absent.toml", None, "absent.toml"),
    ):
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(ConfigFileError, match=named):
            load_overlay(path)
