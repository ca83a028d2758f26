"""The near-duplicate audit: synthetic photos, and the pairs it finds in trashnet-dev."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from agent.classifier.dataset import Sample, Split, list_image_folder, split_samples
from agent.classifier.errors import ImageError
from agent.classifier.near_duplicates import (
    MIN_SIMILARITY,
    audit,
    fingerprint,
    fingerprint_file,
    similarities,
    without_contradictions,
)


def scene(seed: int, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A light tray with a few grey blocks on it and light falling from the left."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = np.full((height, width), 215.0)
    for _ in range(6):
        x, y = rng.integers(0, width - 20), rng.integers(0, height - 20)
        w, h = rng.integers(8, 40), rng.integers(8, 40)
        pixels[y : y + h, x : x + w] = rng.integers(30, 180)
    pixels += np.linspace(-25.0, 25.0, width)[np.newaxis, :]
    out: np.ndarray = np.clip(pixels, 0, 255).astype(np.uint8)
    return out


def noised(pixels: np.ndarray, seed: int, sigma: float = 6.0, shift: float = 12.0) -> np.ndarray:
    """The same photo taken again: sensor noise and a little more light."""
    rng = np.random.default_rng(seed)
    out = pixels.astype(np.float64) + rng.normal(shift, sigma, pixels.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def blank(seed: int, size: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A near-blank sheet: only the tray's lighting gradient and faint noise."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = 200.0 + np.linspace(-40.0, 40.0, width)[np.newaxis, :] + np.zeros((height, 1))
    pixels += rng.normal(0.0, 1.5, pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    prints = [fingerprint(PILImage.fromarray(x, mode="L").convert("RGB")) for x in (a, b)]
    return float(similarities(prints)[0, 1])


def test_identical_photos_are_near_duplicates() -> None:
    assert similarity(scene(1), scene(1)) == pytest.approx(1.0)


def test_a_retaken_photo_is_a_near_duplicate() -> None:
    assert similarity(scene(1), noised(scene(1), seed=9)) >= MIN_SIMILARITY


def test_different_photos_are_not() -> None:
    for other in range(2, 8):
        assert similarity(scene(1), scene(other)) < MIN_SIMILARITY


def test_two_blank_sheets_under_the_same_light_are_not() -> None:
    # A plain difference hash calls these twins: the lighting gradient sets every bit.
    assert similarity(blank(1), blank(2)) < MIN_SIMILARITY


def test_pixel_identical_photos_without_detail_still_match() -> None:
    flat = np.full((40, 30), 128, dtype=np.uint8)
    assert similarity(flat, flat.copy()) == pytest.approx(1.0)
    assert similarity(flat, flat + 60) < MIN_SIMILARITY


def test_fingerprint_does_not_depend_on_size_or_format(tmp_path: Path) -> None:
    big = PILImage.fromarray(scene(4, (240, 320)), mode="L").convert("RGB")
    big.save(tmp_path / "a.png")
    big.resize((120, 160)).save(tmp_path / "b.jpg", quality=85)
    prints = [fingerprint_file(tmp_path / name) for name in ("a.png", "b.jpg")]
    assert similarities(prints)[0, 1] >= MIN_SIMILARITY


def test_unreadable_photo_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not a photo")
    with pytest.raises(ImageError, match=r"glass/bad\.jpg: not a readable image"):
        fingerprint_file(tmp_path / "bad.jpg", "glass/bad.jpg")


def _save(root: Path, relpath: str, pixels: np.ndarray) -> Sample:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(pixels, mode="L").convert("RGB").save(path)
    return Sample(path, relpath, relpath.split("/")[0])


@pytest.fixture
def parts(tmp_path: Path) -> dict[Split, list[Sample]]:
    """A hand-made split: one test photo leaked into train, one into val, one within test."""
    return {
        "train": [
            _save(tmp_path, "glass/t1.png", noised(scene(10), seed=1)),  # twin of test/a
            _save(tmp_path, "glass/t2.png", scene(11)),
            _save(tmp_path, "metal/t3.png", scene(20)),  # same photo as glass/t4
            _save(tmp_path, "glass/t4.png", scene(20)),
        ],
        "val": [_save(tmp_path, "glass/v1.png", noised(scene(12), seed=2))],  # twin of test/b
        "test": [
            _save(tmp_path, "glass/a.png", scene(10)),
            _save(tmp_path, "glass/b.png", scene(12)),
            _save(tmp_path, "glass/c.png", scene(13)),
            _save(tmp_path, "glass/d.png", noised(scene(13), seed=3)),  # twin within test only
            _save(tmp_path, "glass/e.png", scene(14)),
        ],
    }


def test_audit_finds_test_photos_with_a_twin_in_the_training_parts(
    parts: dict[Split, list[Sample]],
) -> None:
    found = audit(parts)
    assert [s.relpath for s in found.leaked("test")] == ["glass/a.png", "glass/b.png"]
    assert [s.relpath for s in found.leaked("test", ["train"])] == ["glass/a.png"]
    assert [s.relpath for s in found.leaked("val")] == []
    assert len(found.pairs) == 4
    assert all(pair.similarity >= MIN_SIMILARITY for pair in found.pairs)


def test_audit_finds_contradictory_labels_and_training_drops_both_copies(
    parts: dict[Split, list[Sample]],
) -> None:
    found = audit(parts)
    [pair] = found.contradictory()
    assert {pair.first.relpath, pair.second.relpath} == {"glass/t4.png", "metal/t3.png"}
    kept, pairs = without_contradictions(parts["train"], found)
    assert [s.relpath for s in kept] == ["glass/t1.png", "glass/t2.png"]
    assert pairs == [pair]
    # A contradiction with a photo outside the samples given drops nothing.
    kept, pairs = without_contradictions(parts["train"][:3], found)
    assert len(kept) == 3
    assert pairs == []


def test_audit_rejects_a_meaningless_threshold(parts: dict[Split, list[Sample]]) -> None:
    with pytest.raises(ValueError, match="min_similarity"):
        audit(parts, min_similarity=0.0)


def test_trashnet_pairs_are_the_ones_the_model_card_lists(trashnet_dir: Path) -> None:
    found = audit(split_samples(list_image_folder(trashnet_dir)))
    assert len(found.pairs) == 18
    assert [s.relpath for s in found.leaked("test")] == ["paper/paper185.jpg", "paper/paper349.jpg"]
    assert [s.relpath for s in found.leaked("val")] == ["paper/paper147.jpg", "paper/paper306.jpg"]
    contradictions = {(p.first.relpath, p.second.relpath) for p in found.contradictory()}
    assert contradictions == {
        ("glass/glass115.jpg", "metal/metal91.jpg"),
        ("glass/glass176.jpg", "plastic/plastic152.jpg"),
    }
