"""Encoding and decoding of payloads, with errors that name the topic and the field.

Decoding checks, in order: size, JSON well-formedness, that it is an object, the
version, the schema (strictly typed) and that an enveloped ``bin_id`` matches the
topic. The first failing check raises a :class:`~protocol.errors.ProtocolError`
whose ``reason`` is the rejection counter label. A payload that passes them all must
also be standard JSON, since it is stored as received: no ``NaN`` or ``Infinity``
(which the schema refuses in the fields it knows, but not in a field the receiver
ignores) and no key twice in one object (pydantic keeps the last value, SQLite's JSON
functions the first).
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from protocol.errors import (
    BinIdMismatch,
    DuplicateKey,
    MalformedPayload,
    NonStandardJson,
    PayloadTooLarge,
    SchemaError,
    UnsupportedVersion,
)
from protocol.messages import (
    PROTOCOL_VERSION,
    Ack,
    AlarmEvent,
    BinMessage,
    Command,
    CommandResult,
    ConfigDesired,
    ConfigReported,
    DepositEvent,
    EmptiedEvent,
    Envelope,
    FaultEvent,
    Health,
    State,
    Telemetry,
)
from protocol.topics import DEFAULT_PREFIX, BinTopic, TopicKind, parse_bin_topic

MAX_PAYLOAD_BYTES = 64 * 1024

M = TypeVar("M", bound=BaseModel)

_EVENT_MODELS: dict[str, type[Envelope]] = {
    "deposit": DepositEvent,
    "emptied": EmptiedEvent,
    "alarm": AlarmEvent,
    "fault": FaultEvent,
}
_KIND_MODELS: dict[TopicKind, type[BaseModel]] = {
    TopicKind.STATE: State,
    TopicKind.TELEMETRY: Telemetry,
    TopicKind.HEALTH: Health,
    TopicKind.CONFIG_REPORTED: ConfigReported,
    TopicKind.CMD_RESULT: CommandResult,
    TopicKind.CONFIG_DESIRED: ConfigDesired,
    TopicKind.CMD: Command,
    TopicKind.ACK: Ack,
}


def encode(message: BaseModel) -> bytes:
    """Serialise a wire model to compact UTF-8 JSON."""
    return message.model_dump_json().encode("utf-8")


def model_for(topic: BinTopic) -> type[BaseModel]:
    """The model that a bin topic carries."""
    if topic.kind is TopicKind.EVENT:
        assert topic.event_type is not None
        return _EVENT_MODELS[topic.event_type]
    return _KIND_MODELS[topic.kind]


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            # pydantic adds the union member or the constraint name to the location
            if item in {"function-after[_to_utc(), datetime]", "constrained-str"}:
                continue
            parts.append(("." if parts else "") + item)
    return "".join(parts) or "(root)"


def _load_object(payload: bytes | str, topic: str | None) -> dict[str, Any]:
    size = len(payload.encode("utf-8") if isinstance(payload, str) else payload)
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload is {size} bytes, over {MAX_PAYLOAD_BYTES}", topic=topic)
    try:
        data = json.loads(payload)
    except UnicodeDecodeError as err:
        raise MalformedPayload(f"payload is not UTF-8: {err.reason}", topic=topic) from None
    except json.JSONDecodeError as err:
        raise MalformedPayload(
            f"payload is not JSON: {err.msg} at {err.pos}", topic=topic
        ) from None
    except RecursionError:
        raise MalformedPayload("payload is nested too deeply", topic=topic) from None
    if not isinstance(data, dict):
        raise MalformedPayload(
            f"payload must be a JSON object, not {type(data).__name__}", topic=topic
        )
    return data


class _Constant(Exception):
    """``NaN``, ``Infinity`` or ``-Infinity`` met while parsing (carries which)."""


class _Duplicate(Exception):
    """A key met twice in one object while parsing (carries the key)."""


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return data


def check_standard_json(payload: bytes | str, *, topic: str | None = None) -> None:
    """Raise unless ``payload`` is standard JSON (RFC 8259) with unique keys.

    :class:`~protocol.errors.NonStandardJson` for ``NaN``, ``Infinity`` or
    ``-Infinity``; :class:`~protocol.errors.DuplicateKey` for a key given twice in one
    object; :class:`~protocol.errors.MalformedPayload` for anything else that does not
    parse.
    """
    try:
        json.loads(payload, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except _Constant as err:
        raise NonStandardJson(
            f"payload holds {err.args[0]}, which is not a JSON number (RFC 8259)", topic=topic
        ) from None
    except _Duplicate as err:
        raise DuplicateKey(
            f"payload names the key {err.args[0]!r} twice in one object", topic=topic
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        _load_object(payload, topic)  # raises MalformedPayload saying why


def decode(model: type[M], payload: bytes | str, *, topic: str | None = None) -> M:
    """Decode ``payload`` into ``model``; raise a ProtocolError that names the field.

    A valid message is parsed by pydantic, then once more by :func:`check_standard_json`
    (pydantic accepts ``NaN`` in a field the model ignores, and keeps the last of two
    equal keys). An invalid one is parsed again to tell which rule it broke (size,
    JSON, object, version, schema), in that order.
    """
    size = len(payload) if isinstance(payload, bytes) else len(payload.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload is {size} bytes, over {MAX_PAYLOAD_BYTES}", topic=topic)
    try:
        message = model.model_validate_json(payload)
    except ValidationError as err:
        failure: ValidationError | None = err
    else:
        if "v" not in model.model_fields or "v" in message.model_fields_set:
            check_standard_json(payload, topic=topic)
            return message
        failure = None
    data = _load_object(payload, topic)
    if "v" in model.model_fields:
        if "v" not in data:
            raise SchemaError(
                f"{model.__name__} rejected: field 'v': Field required", fields=["v"], topic=topic
            )
        if data["v"] != PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"field 'v' is {data['v']!r}; this receiver speaks version {PROTOCOL_VERSION}",
                topic=topic,
            )
    assert failure is not None
    problems = []
    fields = []
    for item in failure.errors(include_url=False):
        path = _field_path(item["loc"])
        fields.append(path)
        problems.append(f"field '{path}': {item['msg']}")
    raise SchemaError(
        f"{model.__name__} rejected: " + "; ".join(problems), fields=fields, topic=topic
    )


def decode_bin_message(
    topic: str, payload: bytes | str, *, prefix: str = DEFAULT_PREFIX
) -> tuple[BinTopic, BinMessage]:
    """Decode a bin-to-cloud message and check it is addressed to the bin in its topic."""
    parsed = parse_bin_topic(topic, prefix=prefix)
    model = model_for(parsed)
    if not issubclass(model, Envelope):
        raise SchemaError(
            f"{parsed.kind.value} is a cloud-to-bin topic", fields=["(topic)"], topic=topic
        )
    message = decode(model, payload, topic=topic)
    assert isinstance(message, Envelope)
    if message.bin_id != parsed.bin_id:
        raise BinIdMismatch(
            f"field 'bin_id' is {message.bin_id!r} but the topic is for {parsed.bin_id!r}",
            topic=topic,
        )
    return parsed, message  # type: ignore[return-value]
