"""A tiny ONNX colour classifier for tests, and a way to add metadata without ``onnx``.

``tests/data/tiny-colour.onnx`` (input (N, 3, 16, 16), output (N, 6) logits, no
metadata) averages each channel and scores it: red photos come out ``metal``, green
``glass``, blue ``plastic``. It was written by ``python -m tests.support.tiny_model``
(needs ``onnx``, from the train extra). Tests add ``metadata_props`` with
:func:`with_metadata`, which appends protobuf fields to the serialised model: a parser
merges repeated fields from anywhere in the message, so no ONNX library is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

TINY_MODEL = Path(__file__).resolve().parents[1] / "data" / "tiny-colour.onnx"
TINY_LABELS = ("cardboard", "glass", "metal", "paper", "plastic", "trash")
TINY_SIZE = 16
METADATA_PROPS_FIELD = 14  # ModelProto.metadata_props


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def with_metadata(model: bytes, props: Mapping[str, str]) -> bytes:
    """``model`` with ``props`` appended as ``metadata_props`` entries."""
    extra = b"".join(
        _length_delimited(
            METADATA_PROPS_FIELD,
            _length_delimited(1, key.encode()) + _length_delimited(2, value.encode()),
        )
        for key, value in props.items()
    )
    return model + extra


def write_tiny(path: Path, props: Mapping[str, str] | None = None) -> Path:
    """Copy the tiny model to ``path``, with ``props`` as metadata."""
    path.write_bytes(with_metadata(TINY_MODEL.read_bytes(), props or {}))
    return path


def _build() -> None:  # pragma: no cover - run by hand to regenerate the file
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    # Scores: one row per input channel (normalised R, G, B means), one column per label.
    weights = np.array(
        [
            [0.0, -1.0, 4.0, 0.0, -1.0, 0.0],  # red -> metal
            [0.0, 4.0, -1.0, 0.0, -1.0, 0.0],  # green -> glass
            [0.0, -1.0, -1.0, 0.0, 4.0, 0.0],  # blue -> plastic
        ],
        dtype=np.float32,
    )
    bias = np.zeros(6, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("Gemm", ["flat", "W", "b"], ["logits"]),
        ],
        "tiny-colour",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 6])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(TINY_MODEL))


if __name__ == "__main__":  # pragma: no cover
    _build()


def tiny_metadata_props(**overrides: str) -> dict[str, str]:
    """Complete metadata for the tiny model; ``overrides`` replace (or, with "", drop) keys."""
    props = {
        "revloop.labels": '["cardboard", "glass", "metal", "paper", "plastic", "trash"]',
        "revloop.input_size": str(TINY_SIZE),
        "revloop.mean": "[127.0, 127.0, 127.0]",
        "revloop.std": "[128.0, 128.0, 128.0]",
        "revloop.resize": "squash",
        "revloop.version": "tiny-colour-1",
        "revloop.precision": "fp32",
    }
    for key, value in overrides.items():
        full = "revloop." + key
        if value == "":
            props.pop(full, None)
        else:
            props[full] = value
    return props
