"""Errors raised while decoding the wire format.

Each error carries a short machine-readable ``reason`` so receivers can count
rejections by cause, and a message that names the topic and the offending field.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """Root of every wire-format error; ``reason`` is the counter label."""

    reason = "invalid"

    def __init__(self, message: str, *, topic: str | None = None) -> None:
        self.topic = topic
        super().__init__(f"{topic}: {message}" if topic else message)


class UnknownTopic(ProtocolError):
    """The topic is not one of the contract's topics."""

    reason = "unknown_topic"


class PayloadTooLarge(ProtocolError):
    """The payload exceeds the contract's 64 KiB limit."""

    reason = "oversized"


class MalformedPayload(ProtocolError):
    """The payload is not a UTF-8 JSON object."""

    reason = "malformed"


class NonStandardJson(ProtocolError):
    """The payload holds ``NaN``, ``Infinity`` or ``-Infinity``: JSON (RFC 8259) has no
    such numbers, so a database's JSON functions would refuse the stored payload."""

    reason = "non_standard_json"


class DuplicateKey(ProtocolError):
    """An object of the payload names a key twice: parsers disagree on which value
    counts (Python keeps the last, SQLite's JSON functions the first)."""

    reason = "duplicate_key"


class UnsupportedVersion(ProtocolError):
    """The payload's ``v`` is not a version this code speaks."""

    reason = "version"


class SchemaError(ProtocolError):
    """A required field is missing or has the wrong type or range.

    ``fields`` lists the dotted paths of the offending fields.
    """

    reason = "schema"

    def __init__(self, message: str, *, fields: list[str], topic: str | None = None) -> None:
        self.fields = fields
        super().__init__(message, topic=topic)


class BinIdMismatch(ProtocolError):
    """The payload's ``bin_id`` differs from the bin id in its topic."""

    reason = "bin_id_mismatch"
