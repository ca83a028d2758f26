"""Reading an OpenAPI document in tests: is a response typed, does a body conform to it,
which operation serves a URL and what it documents for an error.

A small checker for the JSON Schema subset pydantic writes ($ref, anyOf, type,
properties, required, additionalProperties, items, enum, const, format date-time),
so the tests need no JSON Schema library. It is stricter than JSON Schema on purpose:
an object with declared properties may carry no other key, so a key the document does
not mention is an error even where the schema would allow it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from protocol import format_ts, parse_ts

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}


def resolve(schema: Schema, document: Schema) -> Schema:
    """``schema``, or the component its ``$ref`` names."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: Schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def untyped(schema: Schema, document: Schema) -> str | None:
    """Why ``schema`` tells a reader nothing about a body, or None when it is typed.

    Untyped: no schema or no type, an object without properties (``additionalProperties``
    alone says only "some object"), or an array of such.
    """
    schema = resolve(schema, document)
    if "anyOf" in schema:
        options = [option for option in schema["anyOf"] if option.get("type") != "null"]
        reasons = [untyped(option, document) for option in options]
        return next((reason for reason in reasons if reason), None if options else "only null")
    kind = schema.get("type")
    if kind == "array":
        return untyped(schema.get("items", {}), document)
    if kind == "object":
        return None if schema.get("properties") else "an object without properties"
    return None if kind in _TYPES else f"no type in {schema}"


def response_components(document: Schema, schema: Schema) -> Iterator[tuple[str, Schema]]:
    """Every named component ``schema`` reaches, with its name (each once)."""
    seen: set[str] = set()
    todo = [schema]
    while todo:
        node = todo.pop()
        ref = node.get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                component = resolve(node, document)
                yield name, component
                todo.append(component)
            continue
        todo.extend(node.get("anyOf", []))
        todo.extend(node.get("properties", {}).values())
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                todo.append(node[key])


def conformity(value: Any, schema: Schema, document: Schema, at: str = "$") -> list[str]:
    """What in ``value`` does not conform to ``schema`` (empty when it conforms)."""
    schema = resolve(schema, document)
    if "anyOf" in schema:
        if any(not conformity(value, option, document, at) for option in schema["anyOf"]):
            return []
        return [f"{at}: {value!r} matches no option of {schema['anyOf']}"]
    if "const" in schema and value != schema["const"]:
        return [f"{at}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    if kind is None:
        return []  # a free-form value (args, result, config)
    if not isinstance(value, _TYPES[kind]) or (kind != "boolean" and isinstance(value, bool)):
        return [f"{at}: {value!r} is not {kind}"]
    if isinstance(value, str) and schema.get("format") == "date-time":
        return [] if _is_timestamp(value) else [f"{at}: {value!r} is not RFC 3339 UTC with ms"]
    if isinstance(value, list):
        return [
            error
            for index, item in enumerate(value)
            for error in conformity(item, schema.get("items", {}), document, f"{at}[{index}]")
        ]
    if isinstance(value, dict):
        return _object_conformity(value, schema, document, at)
    return []


def _object_conformity(
    value: dict[str, Any], schema: Schema, document: Schema, at: str
) -> list[str]:
    properties: dict[str, Schema] = schema.get("properties", {})
    required = schema.get("required", [])
    errors = [f"{at}: required key {key!r} is missing" for key in required if key not in value]
    for key, item in value.items():
        if key in properties:
            errors += conformity(item, properties[key], document, f"{at}.{key}")
        elif properties or schema.get("additionalProperties") is False:
            errors.append(f"{at}: key {key!r} is not documented")
        elif isinstance(schema.get("additionalProperties"), dict):
            errors += conformity(item, schema["additionalProperties"], document, f"{at}.{key}")
    return errors


def _is_timestamp(text: str) -> bool:
    """Whether ``text`` is a time as the bridge writes them (``2026-11-21T10:00:00.123Z``)."""
    try:
        return format_ts(parse_ts(text)) == text
    except ValueError:
        return False


def route_operation(document: Schema, method: str, url: str) -> tuple[str, Schema]:
    """The path template that serves ``url`` (its query left out) and its ``method``'s
    operation; a template without parameters that is ``url``'s path wins."""
    path = url.split("?", 1)[0]
    matches = [
        template
        for template in document["paths"]
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path)
    ]
    exact = [template for template in matches if template == path]
    (template,) = exact or matches
    found: Schema = document["paths"][template][method.lower()]
    return template, found


def error_schema(operation: Schema, status: int) -> Schema | None:
    """The JSON schema the operation documents for an error ``status``, or None."""
    response = operation["responses"].get(str(status))
    if response is None:
        return None
    schema: Schema = response["content"]["application/json"]["schema"]
    return schema
