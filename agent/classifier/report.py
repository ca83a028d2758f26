"""Presenting an evaluation: a readable report for people, one JSON object for tools."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from agent.classifier.evaluate import Evaluation


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def to_json(evaluation: Evaluation) -> dict[str, Any]:
    """The evaluation as one JSON-ready object (keys stable for scripts and benchmarks)."""
    scores = evaluation.scores
    return {
        "model": str(evaluation.model),
        "model_version": evaluation.model_version,
        "precision": evaluation.precision,
        "data": str(evaluation.data),
        "split": evaluation.split,
        "n": scores.n,
        "accuracy": round(scores.accuracy, 4),
        "per_class": {
            label: {
                "precision": _round(s.precision),
                "recall": _round(s.recall),
                "support": s.support,
            }
            for label, s in scores.per_class.items()
        },
        "confusion_matrix": {
            "labels": list(scores.labels),
            "rows_true_cols_predicted": scores.confusion,
        },
        "latency_ms_p50": round(evaluation.latency_ms_p50, 3),
        "latency_ms_p95": round(evaluation.latency_ms_p95, 3),
        "threads": evaluation.threads,
        "kernels": evaluation.kernels,
        "near_duplicates_excluded": len(evaluation.near_duplicates_excluded),
        "near_duplicates_excluded_files": list(evaluation.near_duplicates_excluded),
        "near_duplicate_min_similarity": evaluation.near_duplicate_min_similarity,
    }


def dumps(evaluation: Evaluation) -> str:
    """Exactly one JSON object on one line."""
    return json.dumps(to_json(evaluation), sort_keys=False)


def near_duplicate_line(evaluation: Evaluation) -> str:
    """Whether photos with a near twin in a training part were left out, and which."""
    if evaluation.near_duplicate_min_similarity is None:
        return "near duplicates: not looked for (all photos of the split counted)"
    excluded = evaluation.near_duplicates_excluded
    line = (
        f"near duplicates: {len(excluded)} photo(s) with a near twin in a training part "
        f"left out (similarity >= {evaluation.near_duplicate_min_similarity})"
    )
    return line + (f": {', '.join(excluded)}" if excluded else "")


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(evaluation: Evaluation, console: Console) -> None:
    """Print the summary, per-class table and confusion matrix."""
    scores = evaluation.scores
    console.print(
        f"model {evaluation.model} (version {evaluation.model_version}, {evaluation.precision})"
    )
    console.print(f"data  {evaluation.data} (split: {evaluation.split}, n = {scores.n})")
    console.print(near_duplicate_line(evaluation), markup=False)
    console.print(f"accuracy {scores.accuracy:.4f}")
    console.print(
        f"latency p50 {evaluation.latency_ms_p50:.2f} ms, p95 {evaluation.latency_ms_p95:.2f} ms"
        f" per photo on {evaluation.threads} thread(s), {evaluation.kernels} kernels"
    )
    console.print("        (JPEG decode + resize + normalise + inference)")
    per_class = Table(title="Per class")
    for column in ("class", "precision", "recall", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for label, s in scores.per_class.items():
        per_class.add_row(label, _fmt(s.precision), _fmt(s.recall), str(s.support))
    console.print(per_class)
    matrix = Table(title="Confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("true \\ predicted")
    for label in scores.labels:
        matrix.add_column(label, justify="right")
    for label, row in zip(scores.labels, scores.confusion, strict=True):
        matrix.add_row(label, *(str(v) for v in row))
    console.print(matrix)
