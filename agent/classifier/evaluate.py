"""Evaluating a model on an ImageFolder directory, timing each photo end to end.

Each photo's time covers what a bin does per deposit: JPEG decode, resize, normalise
and inference, on the classifier's configured threads. The weight check is off (the
photos have no weights), so this measures the image model alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.classifier.dataset import SPLITS, Sample, list_image_folder, split_samples
from agent.classifier.errors import DatasetError
from agent.classifier.metrics import Scores, percentile_ms, score
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
    scores: Scores
    latency_ms_p50: float
    latency_ms_p95: float


def select(data: Path, labels: Sequence[str], split: str) -> list[Sample]:
    """The photos of ``data`` in ``split`` (``all`` or a part of the held-out split rule)."""
    if split not in SPLIT_CHOICES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_CHOICES)}, got {split!r}")
    samples = list_image_folder(data, labels)
    if split == "all":
        return samples
    parts = split_samples(samples)
    chosen = next(parts[name] for name in SPLITS if name == split)
    if not chosen:
        raise DatasetError(f"{data}: the {split} split is empty")
    return chosen


def evaluate(
    classifier: OnnxClassifier,
    data: Path,
    split: str = "all",
    clock: Callable[[], float] = time.perf_counter,
) -> Evaluation:
    """Accuracy, per-class scores, confusion matrix and p50/p95 latency on ``data``."""
    samples = select(data, classifier.labels, split)
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
        scores=score(classifier.labels, truth, predicted),
        latency_ms_p50=percentile_ms(durations, 50),
        latency_ms_p95=percentile_ms(durations, 95),
    )
