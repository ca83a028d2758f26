"""The wire contract in code: round trips, topics and rejections that name the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from protocol import (
    BinIdMismatch,
    Command,
    DepositEvent,
    MalformedPayload,
    PayloadTooLarge,
    Pickup,
    SchemaError,
    State,
    Telemetry,
    TopicKind,
    UnknownTopic,
    UnsupportedVersion,
    bin_topic,
    decode,
    decode_bin_message,
    encode,
    format_ts,
    parse_bin_topic,
    pickups_topic,
)
from protocol.errors import DuplicateKey, NonStandardJson
from protocol.transport import BrokerUrl, parse_broker_url

TS = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)


def telemetry(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "v": 1,
        "bin_id": "bin-001",
        "seq": 7,
        "boot_id": "b1",
        "ts": "2026-11-21T10:00:00.123Z",
        "clock_synced": True,
        "fill_pct": 42.5,
        "fill_mm": 600.0,
        "weight_kg": 3.2,
        "temp_c": 12.0,
        "door": "closed",
        "deposits_since_empty": 12,
    }
    base.update(changes)
    return base


def test_timestamps_are_rfc3339_utc_with_milliseconds() -> None:
    assert format_ts(TS) == "2026-11-21T10:00:00.123Z"
    east = TS.astimezone(timezone(timedelta(hours=2)))
    assert format_ts(east) == "2026-11-21T10:00:00.123Z"


def test_round_trip_every_enveloped_message() -> None:
    state = State(
        bin_id="bin-001",
        seq=1,
        boot_id="b",
        ts=TS,
        clock_synced=False,
        online=True,
        bd_seq=3,
        agent_version="0.1.0",
        config_version=0,
        reason="connect",
        region="north",
        location=None,
    )
    topic, decoded = decode_bin_message("bins/v1/bin-001/state", encode(state))
    assert topic.kind is TopicKind.STATE
    assert decoded == state.model_copy(update={"ts": TS.replace(microsecond=123000)})
    deposit = DepositEvent(
        bin_id="bin-001",
        seq=2,
        boot_id="b",
        ts=TS,
        clock_synced=True,
        deposit_id="d-1",
        category="glass",
        confidence=0.97,
        accepted=True,
        reason=None,
        weight_g=250.0,
        model="trashnet-v1",
    )
    topic, decoded = decode_bin_message("bins/v1/bin-001/events/deposit", encode(deposit))
    assert topic.event_type == "deposit"
    assert isinstance(decoded, DepositEvent)
    assert decoded.category == "glass"


def test_unknown_fields_are_ignored() -> None:
    _, message = decode_bin_message(
        "bins/v1/bin-001/telemetry", json.dumps(telemetry(new_field={"x": 1}))
    )
    assert isinstance(message, Telemetry)
    assert message.fill_pct == 42.5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fill_pct": "full"}, "fill_pct"),
        ({"fill_pct": 101}, "fill_pct"),
        ({"seq": "7"}, "seq"),
        ({"seq": 0}, "seq"),
        ({"seq": 2**63}, "seq"),
        ({"clock_synced": 1}, "clock_synced"),
        ({"door": "ajar"}, "door"),
        ({"ts": "2026-11-21 10:00"}, "ts"),
        ({"ts": 1700000000}, "ts"),
        ({"bin_id": "BIN 1"}, "bin_id"),
    ],
)
def test_wrong_types_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(SchemaError) as caught:
        decode_bin_message("bins/v1/bin-001/telemetry", json.dumps(telemetry(**change)))
    assert field in caught.value.fields
    assert f"'{field}'" in str(caught.value)


HEALTH_TOPIC = "bins/v1/bin-001/health"
STATE_TOPIC = "bins/v1/bin-001/state"
RESULT_TOPIC = "bins/v1/bin-001/cmd/result"
_ENVELOPE = {k: v for k, v in telemetry().items() if k in ("v", "bin_id", "seq", "boot_id", "ts")}


def health(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        **_ENVELOPE,
        "clock_synced": True,
        "uptime_s": 60.0,
        "cpu_temp_c": 48.0,
        "disk_free_mb": 900.0,
        "outbox_depth": 0,
        "outbox_oldest_s": 0.0,
        "outbox_dropped": 0,
        "reconnects": 1,
        "agent_version": "0.1.0",
        "config_version": 2,
        "model_version": "m1",
        "sensors": {"camera": "ok"},
    }
    base.update(changes)
    return base


def state(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        **_ENVELOPE,
        "clock_synced": True,
        "online": True,
        "bd_seq": 3,
        "agent_version": "0.1.0",
        "config_version": 2,
        "reason": "connect",
        "region": "north",
        "location": {"lat": 52.5, "lon": 13.4},
    }
    base.update(changes)
    return base


def result(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        **_ENVELOPE,
        "clock_synced": True,
        "id": "c1",
        "ok": True,
        "result": {"tare_g": 1.5},
        "error": None,
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("topic", "payload", "field"),
    [
        ("bins/v1/bin-001/telemetry", telemetry(fill_pct=float("nan")), "fill_pct"),
        ("bins/v1/bin-001/telemetry", telemetry(weight_kg=float("inf")), "weight_kg"),
        ("bins/v1/bin-001/telemetry", telemetry(temp_c=float("-inf")), "temp_c"),
        (
            "bins/v1/bin-001/telemetry",
            telemetry(deposits_since_empty=2**63),
            "deposits_since_empty",
        ),
        ("bins/v1/bin-001/telemetry", telemetry(deposits_since_empty=-1), "deposits_since_empty"),
        ("bins/v1/bin-001/telemetry", telemetry(v=True), "v"),
        ("bins/v1/bin-001/telemetry", telemetry(v=1.0), "v"),
        ("bins/v1/bin-001/telemetry", telemetry(seq=True), "seq"),
        ("bins/v1/bin-001/telemetry", telemetry(ts="1969-12-31T23:59:59.999Z"), "ts"),
        ("bins/v1/bin-001/telemetry", telemetry(ts="0001-01-01T00:30:00.000+01:00"), "ts"),
        ("bins/v1/bin-001/telemetry", telemetry(ts="9999-12-31T23:30:00.000-01:00"), "ts"),
        (HEALTH_TOPIC, health(cpu_temp_c=float("nan")), "cpu_temp_c"),
        (HEALTH_TOPIC, health(uptime_s=float("inf")), "uptime_s"),
        (HEALTH_TOPIC, health(outbox_depth=2**64), "outbox_depth"),
        (HEALTH_TOPIC, health(tray_idle_g=float("nan")), "tray_idle_g"),
        (STATE_TOPIC, state(bd_seq=2**63), "bd_seq"),
        (STATE_TOPIC, state(bd_seq=-1), "bd_seq"),
        (STATE_TOPIC, state(config_version=2**63), "config_version"),
        (STATE_TOPIC, state(location={"lat": float("nan"), "lon": None}), "location.lat"),
        (RESULT_TOPIC, result(result={"a": [1, float("nan")]}), "result"),
        (RESULT_TOPIC, result(result={"a": {"b": 2**70}}), "result"),
    ],
)
def test_non_finite_and_out_of_range_numbers_are_refused_by_name(
    topic: str, payload: dict[str, object], field: str
) -> None:
    with pytest.raises(SchemaError) as caught:
        decode_bin_message(topic, json.dumps(payload))
    assert caught.value.reason == "schema"
    assert caught.value.fields == [field]
    assert f"'{field}'" in str(caught.value)


def test_the_extremes_of_the_ranges_are_accepted() -> None:
    _, message = decode_bin_message(
        "bins/v1/bin-001/telemetry",
        json.dumps(
            telemetry(seq=2**63 - 1, deposits_since_empty=2**63 - 1, ts="1970-01-01T00:00:00Z")
        ),
    )
    assert isinstance(message, Telemetry)
    assert message.deposits_since_empty == 2**63 - 1
    _, late = decode_bin_message(
        "bins/v1/bin-001/telemetry", json.dumps(telemetry(ts="9999-12-31T23:59:59.999Z"))
    )
    assert format_ts(late.ts) == "9999-12-31T23:59:59.999Z"


@pytest.mark.parametrize(
    ("topic", "payload", "field"),
    [
        (STATE_TOPIC, state(), "region"),
        (STATE_TOPIC, state(), "location"),
        (HEALTH_TOPIC, health(), "sensors"),
        (RESULT_TOPIC, result(), "result"),
    ],
)
def test_every_field_the_contract_requires_is_required(
    topic: str, payload: dict[str, object], field: str
) -> None:
    del payload[field]
    with pytest.raises(SchemaError) as caught:
        decode_bin_message(topic, json.dumps(payload))
    assert caught.value.fields == [field]
    assert "Field required" in str(caught.value)


def test_a_command_without_args_is_refused_by_name() -> None:
    with pytest.raises(SchemaError) as caught:
        decode(
            Command,
            json.dumps(
                {
                    "id": "c1",
                    "name": "ping",
                    "issued_at": "2026-11-21T10:00:00.000Z",
                    "expires_at": "2026-11-21T10:01:00.000Z",
                }
            ),
        )
    assert caught.value.fields == ["args"]


def test_missing_field_is_named() -> None:
    payload = telemetry()
    del payload["door"]
    with pytest.raises(SchemaError, match="'door'"):
        decode_bin_message("bins/v1/bin-001/telemetry", json.dumps(payload))


def test_hostile_payloads_have_distinct_reasons() -> None:
    topic = "bins/v1/bin-001/telemetry"
    with pytest.raises(MalformedPayload):
        decode_bin_message(topic, b"{not json")
    with pytest.raises(MalformedPayload):
        decode_bin_message(topic, b"[1, 2]")
    with pytest.raises(MalformedPayload):
        decode_bin_message(topic, b"\xff\xfe\x00")
    with pytest.raises(MalformedPayload):
        decode_bin_message(topic, b"[" * 100_00 + b"]" * 100_00)
    with pytest.raises(PayloadTooLarge):
        decode_bin_message(topic, json.dumps(telemetry(pad="x" * 70_000)))
    with pytest.raises(UnsupportedVersion):
        decode_bin_message(topic, json.dumps(telemetry(v=2)))
    with pytest.raises(BinIdMismatch):
        decode_bin_message(topic, json.dumps(telemetry(bin_id="bin-002")))
    with pytest.raises(UnknownTopic):
        decode_bin_message("bins/v1/bin-001/events/explosion", json.dumps(telemetry()))
    with pytest.raises(UnknownTopic):
        decode_bin_message("bins/v2/bin-001/telemetry", json.dumps(telemetry()))


@pytest.mark.parametrize(
    ("extra", "error", "reason"),
    [
        ('"x": NaN', NonStandardJson, "non_standard_json"),
        ('"x": Infinity', NonStandardJson, "non_standard_json"),
        ('"x": {"y": [1, -Infinity]}', NonStandardJson, "non_standard_json"),
        ('"door": "open"', DuplicateKey, "duplicate_key"),
        ('"x": [{"k": 1, "k": 1}]', DuplicateKey, "duplicate_key"),
    ],
)
def test_a_valid_message_must_also_be_standard_json(
    extra: str, error: type[Exception], reason: str
) -> None:
    """pydantic accepts NaN where the model ignores a field and keeps the last of two
    equal keys; the payload is stored as received, so both are refused."""
    payload = json.dumps(telemetry())[:-1] + ", " + extra + "}"
    with pytest.raises(error) as caught:
        decode_bin_message("bins/v1/bin-001/telemetry", payload)
    assert getattr(caught.value, "reason", None) == reason
    assert "bins/v1/bin-001/telemetry" in str(caught.value)


def test_non_standard_json_in_a_command_is_refused_too() -> None:
    body = (
        '{"id": "c1", "name": "ping", "args": {}, "issued_at": "2026-11-21T10:00:00.000Z", '
        '"expires_at": "2026-11-21T10:01:00.000Z", "id": "c2"}'
    )
    with pytest.raises(DuplicateKey, match="'id' twice"):
        decode(Command, body)


def test_topics_build_and_parse() -> None:
    assert bin_topic("bin-001", TopicKind.EVENT, "alarm") == "bins/v1/bin-001/events/alarm"
    assert bin_topic("bin-001", TopicKind.CMD_RESULT) == "bins/v1/bin-001/cmd/result"
    parsed = parse_bin_topic("acme/bins/bin-001/config/desired", prefix="acme/bins")
    assert parsed.kind is TopicKind.CONFIG_DESIRED
    assert parsed.render(prefix="acme/bins") == "acme/bins/bin-001/config/desired"
    assert pickups_topic("north") == "fleet/v1/pickups/north"
    with pytest.raises(ValueError, match="bin_id"):
        bin_topic("+", TopicKind.TELEMETRY)
    with pytest.raises(ValueError, match="region"):
        pickups_topic("a/#")


def test_unknown_command_still_parses_so_it_can_be_answered() -> None:
    command = decode(
        Command,
        json.dumps(
            {
                "id": "c1",
                "name": "self_destruct",
                "args": {},
                "issued_at": "2026-11-21T10:00:00.000Z",
                "expires_at": "2026-11-21T10:01:00.000Z",
            }
        ),
    )
    assert not command.known
    assert command.expired(TS + timedelta(minutes=2))


def test_pickup_serialises_manifest_and_nulls() -> None:
    pickup = Pickup.model_validate(
        {
            "pickup_id": "p-1",
            "bin_id": "bin-001",
            "status": "requested",
            "priority": "normal",
            "reason": "threshold",
            "fill_pct": 81.0,
            "predicted_full_at": None,
            "due_by": TS,
            "location": {"lat": 1.0, "lon": None},
            "manifest": {"glass": {"count": 3, "kg": 0.9}},
            "ts": TS,
        },
        strict=False,
    )
    body = json.loads(encode(pickup))
    assert body["predicted_full_at"] is None
    assert body["manifest"] == {"glass": {"count": 3, "kg": 0.9}}
    assert body["due_by"] == "2026-11-21T10:00:00.123Z"
    assert body["v"] == 1


def test_version_is_required_on_the_wire() -> None:
    payload = telemetry()
    del payload["v"]
    with pytest.raises(SchemaError) as caught:
        decode_bin_message("bins/v1/bin-001/telemetry", json.dumps(payload))
    assert caught.value.fields == ["v"]


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://broker:1883", "scheme"),
        ("mqtt://user:pw@broker", "credentials"),
        ("mqtt://broker:99999", "port"),
        ("mqtt://broker:0", "port 0"),
        ("mqtt://:1883", "host"),
        ("mqtt://broker/topic", "path"),
    ],
)
def test_broker_urls_name_the_bad_part(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_broker_url(url)
    assert parse_broker_url("mqtts://broker") == BrokerUrl("broker", 8883, True)
