"""Evaluating a model on an ImageFolder directory, timing each photo end to end.

Each photo's time covers what a bin does per deposit: JPEG decode, resize, normalise
and inference, on the classifier's configured threads. The weight check is off (the
photos have no weights), so this measures the image model alone.

With ``exclude_near_duplicates`` the photos of the evaluated part that have a near
duplicate in the parts a model is fitted or tuned on (``test``: train and val; ``val``:
train; see :mod:`agent.classifier.near_duplicates`) are left out and named, so the
figure is about photos the model never saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.classifier.dataset import SPLITS, Sample, list_image_folder, split_samples
from agent.classifier.errors import DatasetError
from agent.classifier.metrics import Scores, percentile_ms, score
from agent.classifier.near_duplicates import MIN_SIMILARITY, TRAINING_PARTS, audit
from agent.classifier.onnx_backend import OnnxClassifier
from agent.classifier.preprocess import decode

SPLIT_CHOICES = ("all", "train", "val", "test")
WARMUP_RUNS = 3


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The scores and latency of one model on one data directory."""

    model: Path
    model_version: str
    precision: str
    data: Path
    split: str
    threads: int
    kernels: str
    """Which int8 kernels onnxruntime ran (``agent.classifier.onnx_backend.Kernels``)."""
    scores: Scores
    latency_ms_p50: float
    latency_ms_p95: float
    near_duplicates_excluded: tuple[str, ...] = ()
    """Photos of the part left out for a near twin in a training part (relative paths)."""
    near_duplicate_min_similarity: float | None = None
    """The audit's threshold when near duplicates were looked for, else None."""


def select(data: Path, labels: Sequence[str], split: str) -> list[Sample]:
    """The photos of ``data`` in ``split`` (``all`` or a part of the held-out split rule)."""
    return select_clean(data, labels, split, exclude_near_duplicates=False)[0]


def select_clean(
    data: Path, labels: Sequence[str], split: str, exclude_near_duplicates: bool
) -> tuple[list[Sample], list[Sample]]:
    """The photos of ``split`` to evaluate on, and those left out as near duplicates."""
    if split not in SPLIT_CHOICES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_CHOICES)}, got {split!r}")
    if exclude_near_duplicates and split not in TRAINING_PARTS:
        raise ValueError(
            f"near duplicates can be left out of {' or '.join(TRAINING_PARTS)} only "
            f"(photos with a twin in a part trained on), not of {split!r}"
        )
    samples = list_image_folder(data, labels)
    if split == "all":
        return samples, []
    parts = split_samples(samples)
    chosen = next(parts[name] for name in SPLITS if name == split)
    if not chosen:
        raise DatasetError(f"{data}: the {split} split is empty")
    if not exclude_near_duplicates:
        return chosen, []
    leaked = audit(parts).leaked(next(name for name in SPLITS if name == split))
    left_out = {sample.relpath for sample in leaked}
    kept = [sample for sample in chosen if sample.relpath not in left_out]
    if not kept:
        raise DatasetError(f"{data}: every photo of the {split} split has a near duplicate")
    return kept, leaked


def evaluate(
    classifier: OnnxClassifier,
    data: Path,
    split: str = "all",
    clock: Callable[[], float] = time.perf_counter,
    exclude_near_duplicates: bool = False,
) -> Evaluation:
    """Accuracy, per-class scores, confusion matrix and p50/p95 latency on ``data``."""
    samples, left_out = select_clean(data, classifier.labels, split, exclude_near_duplicates)
    first = decode(samples[0].path)
    for _ in range(WARMUP_RUNS):
        classifier.image_probabilities(classifier.input_tensor(first))
    truth: list[str] = []
    predicted: list[str] = []
    durations: list[float] = []
    for sample in samples:
        started = clock()
        probabilities = classifier.image_probabilities(
            classifier.input_tensor(decode(sample.path, sample.relpath))
        )
        durations.append(clock() - started)
        truth.append(sample.label)
        predicted.append(max(probabilities, key=lambda k: probabilities[k]))
    return Evaluation(
        model=classifier.path,
        model_version=classifier.model_version,
        precision=classifier.metadata.precision,
        data=data,
        split=split,
        threads=classifier.threads,
        kernels=classifier.kernels,
        scores=score(classifier.labels, truth, predicted),
        latency_ms_p50=percentile_ms(durations, 50),
        latency_ms_p95=percentile_ms(durations, 95),
        near_duplicates_excluded=tuple(sample.relpath for sample in left_out),
        near_duplicate_min_similarity=MIN_SIMILARITY if exclude_near_duplicates else None,
    )
