"""ImageFolder directories and the reproducible train/val/test split.

A data directory holds one folder per class, named like the model's labels, with
photos inside. The split is computed from the directory alone, so training, the
evaluation command, the benchmark and the tests all agree on which photos were held
out without any list being stored: within each class, files are ordered by the
SHA-256 of their relative path (``class/file.jpg``, forward slashes) and the first
``round(n * test_fraction)`` go to ``test``, the next ``round(n * val_fraction)`` to
``val``, the rest to ``train``. Renaming a file moves it; adding files to a class can
shift a few others at the boundaries, so record the counts with the split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.classifier.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
TEST_FRACTION = 0.15
VAL_FRACTION = 0.10
SPLIT_RULE = (
    "per class, files sorted by sha256 of 'class/file' (relative path, '/' separators); "
    f"first round({TEST_FRACTION}*n) -> test, next round({VAL_FRACTION}*n) -> val, rest -> train"
)


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled photo of an ImageFolder directory."""

    path: Path
    relpath: str
    label: str


def path_key(relpath: str) -> str:
    """The hash that orders a file within its class for the split."""
    return hashlib.sha256(relpath.encode("utf-8")).hexdigest()


def list_image_folder(root: Path, labels: Sequence[str] | None = None) -> list[Sample]:
    """All photos of ``root``, one class per sub-folder, sorted by class then file name.

    With ``labels``, every sub-folder must be one of them (a folder named otherwise is
    an error naming it); labels without a folder are fine (that class is absent).
    """
    if not root.is_dir():
        raise DatasetError(f"{root}: data directory not found")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"{root}: no class folders (expected the ImageFolder layout)")
    if labels is not None:
        unknown = [f.name for f in folders if f.name not in labels]
        if unknown:
            raise DatasetError(
                f"{root}: folder(s) {', '.join(unknown)} match no model label "
                f"(labels: {', '.join(labels)})"
            )
    samples: list[Sample] = []
    for folder in folders:
        for file in sorted(folder.iterdir()):
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                samples.append(Sample(file, f"{folder.name}/{file.name}", folder.name))
    if not samples:
        raise DatasetError(f"{root}: no photos ({', '.join(sorted(IMAGE_SUFFIXES))}) found")
    return samples


def split_samples(
    samples: Sequence[Sample],
    test_fraction: float = TEST_FRACTION,
    val_fraction: float = VAL_FRACTION,
) -> dict[Split, list[Sample]]:
    """Assign each sample to train, val or test by the rule in :data:`SPLIT_RULE`."""
    by_class: dict[str, list[Sample]] = {}
    for sample in samples:
        by_class.setdefault(sample.label, []).append(sample)
    result: dict[Split, list[Sample]] = {name: [] for name in SPLITS}
    for label in sorted(by_class):
        ordered = sorted(by_class[label], key=lambda s: path_key(s.relpath))
        n_test = round(len(ordered) * test_fraction)
        n_val = round(len(ordered) * val_fraction)
        result["test"].extend(ordered[:n_test])
        result["val"].extend(ordered[n_test : n_test + n_val])
        result["train"].extend(ordered[n_test + n_val :])
    for name in SPLITS:
        result[name].sort(key=lambda s: s.relpath)
    return result


def split_counts(split: dict[Split, list[Sample]]) -> dict[str, dict[str, int]]:
    """Photos per class in each part, for metadata and the model card."""
    counts: dict[str, dict[str, int]] = {}
    for name in SPLITS:
        per_class: dict[str, int] = {}
        for sample in split[name]:
            per_class[sample.label] = per_class.get(sample.label, 0) + 1
        counts[name] = dict(sorted(per_class.items()))
    return counts
