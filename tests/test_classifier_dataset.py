"""ImageFolder listing and the reproducible train/val/test split."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image as PILImage

from agent.classifier.dataset import (
    list_image_folder,
    path_key,
    split_counts,
    split_samples,
)
from agent.classifier.errors import DatasetError


def make_folder(root: Path, counts: dict[str, int]) -> Path:
    """An ImageFolder of tiny JPEGs, ``counts`` photos per class."""
    for label, count in counts.items():
        (root / label).mkdir(parents=True)
        for i in range(count):
            PILImage.new("RGB", (4, 4), (i, 0, 0)).save(root / label / f"{label}{i}.jpg")
    return root


def test_lists_photos_by_class_ignoring_other_files(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"glass": 2, "paper": 1})
    (root / "glass" / "notes.txt").write_text("x")
    (root / "README.md").write_text("x")
    samples = list_image_folder(root)
    assert [s.relpath for s in samples] == [
        "glass/glass0.jpg",
        "glass/glass1.jpg",
        "paper/paper0.jpg",
    ]
    assert [s.label for s in samples] == ["glass", "glass", "paper"]


def test_missing_empty_and_foreign_folders_are_specific_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="data directory not found"):
        list_image_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        list_image_folder(tmp_path / "empty")
    (tmp_path / "nophotos" / "glass").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no photos"):
        list_image_folder(tmp_path / "nophotos")
    root = make_folder(tmp_path / "d", {"glass": 1, "cans": 1, "tins": 1})
    with pytest.raises(DatasetError, match=r"folder\(s\) cans, tins match no model label"):
        list_image_folder(root, ["glass", "paper"])


def test_split_is_stratified_disjoint_and_keyed_on_the_path_hash(tmp_path: Path) -> None:
    root = make_folder(tmp_path / "d", {"glass": 40, "paper": 20})
    split = split_samples(list_image_folder(root))
    assert split_counts(split) == {
        "train": {"glass": 30, "paper": 15},
        "val": {"glass": 4, "paper": 2},
        "test": {"glass": 6, "paper": 3},
    }
    names = [s.relpath for part in split.values() for s in part]
    assert len(names) == len(set(names)) == 60
    glass = sorted(
        (s for s in list_image_folder(root) if s.label == "glass"),
        key=lambda s: path_key(s.relpath),
    )
    assert {s.relpath for s in glass[:6]} == {
        s.relpath for s in split["test"] if s.label == "glass"
    }


def test_split_does_not_depend_on_where_the_folder_is(tmp_path: Path) -> None:
    a = split_samples(list_image_folder(make_folder(tmp_path / "a", {"metal": 30})))
    b = split_samples(list_image_folder(make_folder(tmp_path / "b" / "c", {"metal": 30})))
    assert [s.relpath for s in a["test"]] == [s.relpath for s in b["test"]]


def test_trashnet_split_counts(trashnet_dir: Path) -> None:
    counts = split_counts(split_samples(list_image_folder(trashnet_dir)))
    assert sum(counts["test"].values()) == 302
    assert sum(counts["val"].values()) == 203
    assert sum(counts["train"].values()) == 1517
