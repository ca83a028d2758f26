"""From fine-tuned PyTorch weights to the ONNX files a bin runs.

The fp32 export uses the TorchScript-based exporter (``dynamo=False``), opset 17, one
input ``input`` (N, 3, size, size) and one output ``logits`` (N, labels). The int8
model is quantised statically (QDQ, per-channel weights, uint8 activations, int8
weights) with activation ranges calibrated on training photos only.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from agent.classifier.dataset import Sample
from agent.classifier.metadata import ModelMetadata
from agent.classifier.preprocess import Preprocessing, decode

logger = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def export_onnx(model: Any, size: int, path: Path) -> None:
    """Write the fp32 ONNX graph of ``model`` (in eval mode) to ``path``."""
    import torch

    model.eval()
    dummy = torch.zeros(1, 3, size, size)
    with warnings.catch_warnings():
        # The TorchScript exporter is chosen on purpose (dynamo=False) and warns about it.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message="Constant folding", category=UserWarning)
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            opset_version=OPSET,
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            do_constant_folding=True,
        )


def write_metadata(path: Path, metadata: ModelMetadata) -> None:
    """Store ``metadata`` in the file's ``metadata_props`` (replacing earlier revloop keys)."""
    import onnx

    model = onnx.load(str(path))
    props = metadata.to_props()
    kept = [p for p in model.metadata_props if not p.key.startswith("revloop.")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value
    onnx.save(model, str(path))


class PhotoReader(CalibrationDataReader):  # type: ignore[misc]
    """Feeds preprocessed photos to the calibrator, one at a time."""

    def __init__(self, samples: Sequence[Sample], prep: Preprocessing) -> None:
        self._samples = list(samples)
        self._prep = prep
        self._iter: Iterator[Sample] = iter(self._samples)

    def get_next(self) -> dict[str, np.ndarray[Any, Any]] | None:
        """The next input, or None when the photos are used up."""
        sample = next(self._iter, None)
        if sample is None:
            return None
        return {INPUT_NAME: self._prep.tensor(decode(sample.path, sample.relpath))}

    def rewind(self) -> None:
        """Start again from the first photo."""
        self._iter = iter(self._samples)


def calibration_samples(
    samples: Sequence[Sample], count: int, rng: np.random.Generator
) -> list[Sample]:
    """``count`` training photos, drawn evenly across classes as far as they go."""
    by_class: dict[str, list[Sample]] = {}
    for sample in samples:
        by_class.setdefault(sample.label, []).append(sample)
    per_class = max(1, count // max(1, len(by_class)))
    chosen: list[Sample] = []
    for label in sorted(by_class):
        group = by_class[label]
        picks = rng.permutation(len(group))[:per_class]
        chosen.extend(group[i] for i in sorted(picks))
    return chosen


def quantise(
    fp32: Path,
    int8: Path,
    calibration: Sequence[Sample],
    prep: Preprocessing,
    method: CalibrationMethod = CalibrationMethod.MinMax,
    reduce_range: bool = True,
) -> None:
    """Write the statically quantised int8 model of ``fp32`` to ``int8``.

    ``reduce_range`` quantises weights to 7 bits: onnxruntime's fast uint8 x int8
    kernels on x86 CPUs without VNNI add pairs of products in saturating 16-bit steps,
    which 8-bit weights can overflow (it cost the 8-bit model 2 points of accuracy
    there); with 7 bits they cannot, so the fast kernels give the file's answers.
    """
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))
        extra: dict[str, Any] = {}
        if method == CalibrationMethod.Percentile:
            extra["CalibPercentile"] = 99.999
        quantize_static(
            str(prepared),
            str(int8),
            PhotoReader(calibration, prep),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=method,
            reduce_range=reduce_range,
            extra_options=extra,
        )
