"""The ``onnx`` classifier backend: an ONNX image model run by onnxruntime on the CPU.

The model file carries its own metadata (:mod:`agent.classifier.metadata`); the
backend reads it through onnxruntime, so neither torch nor onnx is needed on a bin.
The model's output is one logit per label; softmax and the weight check happen here.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from agent.classifier.cpu import CpuFeatures, this_cpu
from agent.classifier.errors import ModelFileError, ModelMetadataError
from agent.classifier.metadata import ModelMetadata
from agent.classifier.models import shipped_model_path
from agent.classifier.preprocess import check_image
from agent.classifier.result import CATEGORY_NAMES, CategoryName, Classification
from agent.classifier.weight import DEFAULT_FLOOR, DEFAULT_MARGIN, fuse
from agent.hardware.devices import Image
from firmware_config.schema import Classifier, WeightRange

logger = logging.getLogger(__name__)

ORT_ERRORS: tuple[type[Exception], ...] = (
    ort_state.Fail,
    ort_state.InvalidArgument,
    ort_state.InvalidProtobuf,
    ort_state.NoSuchFile,
    ort_state.RuntimeException,
    ort_state.InvalidGraph,
    ort_state.NotImplemented,
)


Kernels = Literal["exact", "fast", "reference"]
"""Which int8 kernels a session runs: ``exact`` (fused, exact on every CPU), ``fast``
(fused; on x86 without VNNI they add products in saturating 16-bit steps) or
``reference`` (fusions limited to the basic level: each operator as the file writes it,
several times slower; the answers the model file defines, to compare with)."""


def kernels_for(metadata: ModelMetadata, cpu: CpuFeatures) -> Kernels:
    """The fastest kernels that give the answers the model file defines on ``cpu``.

    The exact ones are needed only for 8-bit int8 weights on an x86 CPU without VNNI:
    7-bit weights (``reduce_range``) cannot saturate the fast kernels' 16-bit sums, and
    other CPUs have no such sums (:mod:`agent.classifier.cpu`).
    """
    if metadata.precision == "int8" and metadata.weight_bits >= 8 and cpu.int8_sums_saturate:
        return "exact"
    return "fast"


def open_session(
    path: Path, threads: int = 1, *, kernels: Kernels = "exact"
) -> ort.InferenceSession:
    """An onnxruntime session on ``threads`` intra-op threads (one inter-op thread)."""
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if kernels == "reference"
        else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    )
    options.log_severity_level = 3
    if kernels == "exact":
        # x86 CPUs without VNNI add uint8 x int8 products in saturating 16-bit steps,
        # which changed 6 of 302 test answers of the shipped int8 model; this makes
        # onnxruntime use exact kernels there (slower, and only needed there: see
        # kernels_for and docs/model-card.md, "Kernels").
        options.add_session_config_entry("session.x64quantprecision", "1")
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except ORT_ERRORS as err:
        raise ModelFileError(f"{path}: not a loadable ONNX model ({err})") from err


def read_metadata(session: ort.InferenceSession, source: Path) -> ModelMetadata:
    """The model's metadata, checked against its input and output shapes."""
    props: dict[str, str] = dict(session.get_modelmeta().custom_metadata_map)
    meta = ModelMetadata.from_props(props, source)
    unknown = [label for label in meta.labels if label not in CATEGORY_NAMES]
    if unknown:
        raise ModelMetadataError(
            f"{source}: metadata revloop.labels has unknown categories {', '.join(unknown)} "
            f"(known: {', '.join(CATEGORY_NAMES)})"
        )
    inputs = session.get_inputs()
    outputs = session.get_outputs()
    if len(inputs) != 1 or len(outputs) < 1:
        raise ModelMetadataError(f"{source}: model must have one input and an output")
    shape = inputs[0].shape
    if len(shape) != 4 or shape[1] != 3 or shape[2:] != [meta.input_size, meta.input_size]:
        raise ModelMetadataError(
            f"{source}: model input shape {shape} does not match revloop.input_size "
            f"{meta.input_size} (expected [N, 3, {meta.input_size}, {meta.input_size}])"
        )
    out_shape = outputs[0].shape
    if len(out_shape) != 2 or out_shape[1] != len(meta.labels):
        raise ModelMetadataError(
            f"{source}: model output shape {out_shape} does not match the "
            f"{len(meta.labels)} labels in revloop.labels"
        )
    return meta


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Probabilities from logits, numerically stable."""
    shifted = logits.astype(np.float64) - np.max(logits)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum()
    return result


class OnnxClassifier:
    """An ONNX image model fused with the tray-weight plausibility check."""

    def __init__(
        self,
        model: Path | None = None,
        threads: int = 1,
        weight_check: bool = True,
        weight_ranges: Mapping[str, WeightRange] | None = None,
        weight_margin: float = DEFAULT_MARGIN,
        weight_floor: float = DEFAULT_FLOOR,
        cpu: CpuFeatures | None = None,
    ) -> None:
        self.path = model if model is not None else shipped_model_path()
        self.threads = threads
        self.cpu = cpu if cpu is not None else this_cpu()
        # The metadata does not depend on the kernels: open with those an 8-bit int8
        # model (the shipped kind) needs on this CPU, and reopen only if this model
        # turns out to need others.
        opened: Kernels = "exact" if self.cpu.int8_sums_saturate else "fast"
        self.session = open_session(self.path, threads, kernels=opened)
        self.metadata = read_metadata(self.session, self.path)
        self.kernels = kernels_for(self.metadata, self.cpu)
        if self.kernels != opened:
            self.session = open_session(self.path, threads, kernels=self.kernels)
        self._input = self.session.get_inputs()[0].name
        self._output = self.session.get_outputs()[0].name
        self._prep = self.metadata.preprocessing
        self.weight_check = weight_check
        self.weight_ranges: dict[str, WeightRange] = dict(weight_ranges or {})
        self.weight_margin = weight_margin
        self.weight_floor = weight_floor
        logger.info(
            "loaded classifier %s (version %s, %s, %d labels, %s kernels)",
            self.path,
            self.metadata.version,
            self.metadata.precision,
            len(self.metadata.labels),
            self.kernels,
        )

    def with_kernels(self, kernels: Kernels) -> OnnxClassifier:
        """The same model on its own session with other kernels: a cross-check.

        ``reference`` limits fusions to the basic level, so each operator runs as the
        file writes it (dequantise, float operator, quantise): the answers the model
        file defines, at several times the latency. ``exact`` and ``fast`` are the fused
        kernels of :data:`Kernels`, whatever this CPU needs. ``self`` keeps its session.
        """
        other = copy.copy(self)
        other.session = open_session(self.path, self.threads, kernels=kernels)
        other.kernels = kernels
        return other

    @classmethod
    def from_config(cls, config: Classifier) -> OnnxClassifier:
        """The backend as configured in the ``[classifier]`` section."""
        return cls(
            model=config.model,
            threads=config.threads,
            weight_check=config.weight_check,
            weight_ranges={str(k): v for k, v in config.weight_ranges_g.items()},
            weight_margin=config.weight_margin,
            weight_floor=config.weight_floor,
        )

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's labels, in output order."""
        return self.metadata.labels

    @property
    def model_version(self) -> str:
        """Version string from the model's metadata."""
        return self.metadata.version

    @property
    def version(self) -> str:
        """Alias of :attr:`model_version`, as ``agent.intake.DepositClassifier`` names it."""
        return self.metadata.version

    def input_tensor(self, image: Image) -> npt.NDArray[np.float32]:
        """The preprocessed input for one photo (exactly what training used)."""
        return self._prep.tensor(check_image(image))

    def image_probabilities(self, tensor: npt.NDArray[np.float32]) -> dict[str, float]:
        """The image model's probabilities for one preprocessed input."""
        logits = self.session.run([self._output], {self._input: tensor})[0]
        probabilities = softmax(np.asarray(logits, dtype=np.float32)[0])
        return {label: float(p) for label, p in zip(self.labels, probabilities, strict=True)}

    def classify(self, image: Image, weight_g: float | None) -> Classification:
        """Classify one RGB photo, fused with the tray weight when there is one."""
        image_probs = self.image_probabilities(self.input_tensor(image))
        if not self.weight_check:
            return self._answer(image_probs, image_probs, None, None)
        check = fuse(
            image_probs, weight_g, self.weight_ranges, self.weight_margin, self.weight_floor
        )
        if check.plausible is not None and max(check.factors.values()) <= self.weight_floor:
            reason = f"{weight_g:.0f} g fits no category's weight range"
            return self._answer(check.probabilities, image_probs, False, reason, unknown=True)
        return self._answer(check.probabilities, image_probs, check.plausible, check.reason)

    def _answer(
        self,
        probabilities: dict[str, float],
        image_probs: dict[str, float],
        plausible: bool | None,
        reason: str | None,
        unknown: bool = False,
    ) -> Classification:
        top = max(probabilities, key=lambda k: probabilities[k])
        category: CategoryName = "unknown" if unknown else _category(top)
        return Classification(
            category=category,
            confidence=0.0 if unknown else probabilities[top],
            probabilities=probabilities,
            model_version=self.model_version,
            weight_plausible=plausible,
            weight_reason=reason,
            image_probabilities=image_probs,
        )


def _category(label: str) -> CategoryName:
    """The category literal for a label already checked against CATEGORY_NAMES."""
    for name in CATEGORY_NAMES:
        if name == label:
            return name
    return "unknown"
