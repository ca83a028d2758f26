"""The model's metadata, stored in the ONNX file's ``metadata_props``.

Everything needed to run a model and to judge it travels inside the model file, so a
model copied to a bin cannot be paired with the wrong labels or normalisation. Keys
(all strings; JSON where the value is structured):

- ``revloop.labels`` (JSON list), ``revloop.input_size``, ``revloop.mean`` and
  ``revloop.std`` (JSON lists of 3: input = (RGB value - mean) / std),
  ``revloop.resize`` (resize policy; only ``squash`` exists), ``revloop.version``,
  ``revloop.precision`` (``int8`` or ``fp32``) — required: a model without them is refused.
- ``revloop.architecture``, ``revloop.training_data``, ``revloop.split`` (JSON: the
  rule and counts per class), ``revloop.accuracy`` (JSON: accuracy and n on the
  held-out split and which split that is), ``revloop.created``,
  ``revloop.weight_bits`` (``8``, or ``7`` for weights quantised with onnxruntime's
  ``reduce_range``, whose fast kernels cannot saturate; absent means 8) — optional.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.classifier.errors import ModelMetadataError
from agent.classifier.preprocess import RESIZE_POLICY, Preprocessing

PREFIX = "revloop."
REQUIRED_KEYS = ("labels", "input_size", "mean", "std", "resize", "version", "precision")
OPTIONAL_KEYS = ("architecture", "training_data", "split", "accuracy", "created", "weight_bits")
WEIGHT_BITS = (7, 8)
PRECISIONS = ("int8", "fp32")


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What a model file says about itself."""

    labels: tuple[str, ...]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    version: str
    precision: str
    resize: str = RESIZE_POLICY
    architecture: str | None = None
    training_data: str | None = None
    split: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)
    created: str | None = None
    weight_bits: int = 8

    @property
    def preprocessing(self) -> Preprocessing:
        """The preprocessing this model expects."""
        return Preprocessing(self.input_size, self.mean, self.std)

    def to_props(self) -> dict[str, str]:
        """The ``metadata_props`` entries (key -> string value) to store in the file."""
        props = {
            "labels": json.dumps(list(self.labels)),
            "input_size": str(self.input_size),
            "mean": json.dumps(list(self.mean)),
            "std": json.dumps(list(self.std)),
            "resize": self.resize,
            "version": self.version,
            "precision": self.precision,
            "architecture": self.architecture,
            "training_data": self.training_data,
            "split": json.dumps(self.split, sort_keys=True) if self.split else None,
            "accuracy": json.dumps(self.accuracy, sort_keys=True) if self.accuracy else None,
            "created": self.created,
            "weight_bits": str(self.weight_bits) if self.precision == "int8" else None,
        }
        return {PREFIX + key: value for key, value in props.items() if value is not None}

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: Path | str) -> ModelMetadata:
        """Parse ``metadata_props``; ModelMetadataError names ``source`` and the bad key."""
        missing = [PREFIX + key for key in REQUIRED_KEYS if PREFIX + key not in props]
        if missing:
            raise ModelMetadataError(
                f"{source}: model metadata lacks required key(s) {', '.join(missing)}"
            )

        def get(key: str) -> str:
            return props[PREFIX + key]

        def parse_json(key: str) -> Any:
            try:
                return json.loads(get(key))
            except json.JSONDecodeError as err:
                raise ModelMetadataError(
                    f"{source}: metadata {PREFIX}{key} is not valid JSON ({err.msg})"
                ) from err

        labels = parse_json("labels")
        if (
            not isinstance(labels, list)
            or not labels
            or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)
        ):
            raise ModelMetadataError(
                f"{source}: metadata {PREFIX}labels must be a JSON list of distinct names"
            )
        try:
            size = int(get("input_size"))
        except ValueError as err:
            raise ModelMetadataError(
                f"{source}: metadata {PREFIX}input_size is not an integer: {get('input_size')!r}"
            ) from err
        if not 8 <= size <= 2048:
            raise ModelMetadataError(
                f"{source}: metadata {PREFIX}input_size {size} is outside 8..2048"
            )
        mean = _triple(parse_json("mean"), "mean", source)
        std = _triple(parse_json("std"), "std", source)
        if any(s == 0 for s in std):
            raise ModelMetadataError(f"{source}: metadata {PREFIX}std contains 0")
        if get("resize") != RESIZE_POLICY:
            raise ModelMetadataError(
                f"{source}: metadata {PREFIX}resize {get('resize')!r} is not supported "
                f"(supported: {RESIZE_POLICY!r})"
            )
        if get("precision") not in PRECISIONS:
            raise ModelMetadataError(
                f"{source}: metadata {PREFIX}precision must be one of {', '.join(PRECISIONS)}"
            )
        optional = {key: props.get(PREFIX + key) for key in OPTIONAL_KEYS}
        bits = optional["weight_bits"] or "8"
        if bits not in {str(b) for b in WEIGHT_BITS}:
            raise ModelMetadataError(
                f"{source}: metadata {PREFIX}weight_bits must be one of "
                f"{', '.join(str(b) for b in WEIGHT_BITS)}, not {bits!r}"
            )
        return cls(
            labels=tuple(labels),
            input_size=size,
            mean=mean,
            std=std,
            version=get("version"),
            precision=get("precision"),
            resize=get("resize"),
            architecture=optional["architecture"],
            training_data=optional["training_data"],
            split=parse_json("split") if optional["split"] else {},
            accuracy=parse_json("accuracy") if optional["accuracy"] else {},
            created=optional["created"],
            weight_bits=int(bits),
        )


def _triple(value: Any, key: str, source: Path | str) -> tuple[float, float, float]:
    """Three numbers, one per RGB channel."""
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in value)
    ):
        raise ModelMetadataError(
            f"{source}: metadata {PREFIX}{key} must be a JSON list of 3 numbers"
        )
    return (float(value[0]), float(value[1]), float(value[2]))
