"""Accuracy, per-class precision and recall, confusion matrix and latency percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class ClassScore:
    """Precision and recall of one label; None where undefined (nothing predicted/present)."""

    precision: float | None
    recall: float | None
    support: int


@dataclass(frozen=True, slots=True)
class Scores:
    """Classification quality over a set of photos."""

    labels: tuple[str, ...]
    n: int
    accuracy: float
    per_class: dict[str, ClassScore]
    confusion: list[list[int]]
    """Rows: true label; columns: predicted label; both in ``labels`` order."""


def score(labels: Sequence[str], truth: Sequence[str], predicted: Sequence[str]) -> Scores:
    """Scores of ``predicted`` against ``truth`` (both label names, same length)."""
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} true labels but {len(predicted)} predictions")
    if not truth:
        raise ValueError("no photos to score")
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t], index[p]] += 1
    per_class: dict[str, ClassScore] = {}
    for i, label in enumerate(labels):
        predicted_count = int(matrix[:, i].sum())
        support = int(matrix[i, :].sum())
        hit = int(matrix[i, i])
        per_class[label] = ClassScore(
            precision=hit / predicted_count if predicted_count else None,
            recall=hit / support if support else None,
            support=support,
        )
    return Scores(
        labels=tuple(labels),
        n=len(truth),
        accuracy=float(np.trace(matrix)) / len(truth),
        per_class=per_class,
        confusion=matrix.tolist(),
    )


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of durations in seconds, in milliseconds."""
    if not seconds:
        raise ValueError("no timings")
    return float(np.percentile(np.asarray(seconds, dtype=np.float64), q) * 1000.0)
