"""The OpenAPI document states the limits the server enforces, those of the settings too.

Most constraints are declared where they are enforced (a pattern on a path parameter,
``from`` and ``to`` in :mod:`cloud_bridge.api.params`, the one-of rule of a push body).
A few depend on the running bridge's settings, which no static declaration can know:
``limit`` is at most ``api.max_rows`` and a command's ``ttl_s`` at most
``commands.max_ttl_s``. :func:`state_settings_limits` writes them into the document as
``maximum`` when it is first generated, and adds the ``JsonValue`` schema that a
command's ``args`` refer to (integers within 64 bits at any depth).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI

from cloud_bridge.config.commands import MIN_TTL_S
from cloud_bridge.config.settings import BridgeSettings
from protocol.messages import MAX_INT

JSON_VALUE = "JsonValue"
"""The component a free-form value refers to (``#/components/schemas/JsonValue``)."""
JSON_VALUE_REF = f"#/components/schemas/{JSON_VALUE}"

_JSON_VALUE_SCHEMA: dict[str, Any] = {
    "title": JSON_VALUE,
    "description": "Any JSON value whose numbers are finite and whose integers (also one "
    "written as 1e20) lie within 64 bits, from -(2^63-1) to 2^63-1, at any depth.",
    "anyOf": [
        {"type": "null"},
        {"type": "boolean"},
        {"type": "string"},
        {"type": "integer", "format": "int64", "minimum": -MAX_INT, "maximum": MAX_INT},
        {"type": "number", "format": "double", "not": {"type": "integer"}},
        {"type": "array", "items": {"$ref": JSON_VALUE_REF}},
        {"type": "object", "additionalProperties": {"$ref": JSON_VALUE_REF}},
    ],
}


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in document.get("paths", {}).values():
        yield from operations.values()


def _bound(schema: dict[str, Any], kind: str, maximum: float, minimum: float | None = None) -> None:
    """Set ``maximum`` (and ``minimum``) on ``schema``, or on its option of type ``kind``."""
    for option in [schema, *schema.get("anyOf", [])]:
        if option.get("type") == kind:
            option["maximum"] = maximum
            if minimum is not None:
                option["minimum"] = minimum


def state_limits(document: dict[str, Any], settings: BridgeSettings) -> None:
    """Write the settings' limits into ``document`` (in place)."""
    for operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query" and parameter.get("name") == "limit":
                _bound(parameter["schema"], "integer", settings.api.max_rows)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    command = schemas.get("CommandBody")
    if command is not None:
        _bound(command["properties"]["ttl_s"], "number", settings.commands.max_ttl_s, MIN_TTL_S)
    schemas[JSON_VALUE] = _JSON_VALUE_SCHEMA


def state_settings_limits(app: FastAPI, settings: BridgeSettings) -> None:
    """Make ``app``'s OpenAPI document state the limits of ``settings``."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = generate()
        if fresh:
            state_limits(document, settings)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
