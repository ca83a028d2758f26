"""The model shipped in the package: its metadata, and its accuracy on held-out photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.classifier import build_classifier
from agent.classifier.dataset import SPLIT_RULE, list_image_folder, split_counts, split_samples
from agent.classifier.evaluate import evaluate, select
from agent.classifier.models import shipped_model_path
from agent.classifier.onnx_backend import OnnxClassifier
from agent.classifier.preprocess import decode
from firmware_config.schema import Classifier

ACCURACY_FLOOR = 0.93
"""The issue's target for photos the model never saw; the model card records the figure."""
TEST_PHOTOS_WITH_A_TWIN = ["paper/paper185.jpg", "paper/paper349.jpg"]
"""Test photos with a near duplicate in train or val (docs/model-card.md, "Leakage")."""


@pytest.fixture(scope="module")
def shipped() -> OnnxClassifier:
    """The shipped model, loaded once for this module."""
    return OnnxClassifier(None, threads=1, weight_check=False)


def test_shipped_model_is_package_data_and_small() -> None:
    path = shipped_model_path()
    assert path.is_file()
    assert path.stat().st_size < 15_000_000


def test_shipped_model_metadata_is_complete(shipped: OnnxClassifier) -> None:
    meta = shipped.metadata
    assert meta.labels == ("cardboard", "glass", "metal", "paper", "plastic", "trash")
    assert meta.architecture == "efficientnet-lite0"
    assert meta.precision in ("int8", "fp32")
    assert meta.training_data
    assert meta.split["rule"] == SPLIT_RULE
    assert meta.accuracy["split"] == "test"
    assert meta.accuracy["accuracy"] >= ACCURACY_FLOOR


def test_default_configuration_loads_the_shipped_model() -> None:
    classifier = build_classifier(Classifier())
    assert isinstance(classifier, OnnxClassifier)
    assert classifier.path == shipped_model_path()


def test_recorded_split_is_the_one_the_data_gives(
    shipped: OnnxClassifier, trashnet_dir: Path
) -> None:
    counts = split_counts(split_samples(list_image_folder(trashnet_dir)))
    assert shipped.metadata.split["counts"] == counts


def test_accuracy_on_held_out_photos_is_the_recorded_one(
    shipped: OnnxClassifier, trashnet_dir: Path
) -> None:
    # Exactly the recorded figure on any CPU: on x86 without VNNI this needs the
    # backend's exact int8 kernels (0.914 without them; docs/model-card.md, "Kernels").
    result = evaluate(shipped, trashnet_dir, split="test")
    assert result.scores.n == shipped.metadata.accuracy["n"]
    assert result.scores.accuracy == pytest.approx(
        shipped.metadata.accuracy["accuracy"], abs=0.0001
    )


def test_accuracy_on_never_seen_photos_meets_the_floor(
    shipped: OnnxClassifier, trashnet_dir: Path
) -> None:
    # The target is for photos the model never saw: test photos with a near
    # duplicate in train or val do not count.
    result = evaluate(shipped, trashnet_dir, split="test", exclude_near_duplicates=True)
    assert list(result.near_duplicates_excluded) == TEST_PHOTOS_WITH_A_TWIN
    assert result.scores.n == shipped.metadata.accuracy["n"] - len(TEST_PHOTOS_WITH_A_TWIN)
    assert result.scores.accuracy >= ACCURACY_FLOOR


def test_reference_kernels_leave_the_agent_session_alone(shipped: OnnxClassifier) -> None:
    copy = shipped.with_kernels("reference")
    assert copy is not shipped
    assert copy.session is not shipped.session
    assert copy.metadata == shipped.metadata
    image = np.full((320, 240, 3), 200, dtype=np.uint8)
    probabilities = copy.image_probabilities(copy.input_tensor(image))
    assert set(probabilities) == set(shipped.labels)
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_real_photo_with_weight_check(shipped: OnnxClassifier, trashnet_dir: Path) -> None:
    classifier = build_classifier(Classifier())
    test_photos = split_samples(list_image_folder(trashnet_dir))["test"]
    images = (decode(s.path) for s in test_photos if s.label == "glass")
    image = next(i for i in images if shipped.classify(i, None).category == "glass")
    plain = shipped.classify(image, None)
    bottle = classifier.classify(image, 300.0)  # inside glass's 80-2500 g
    assert bottle.category == "glass"
    assert bottle.weight_plausible is True
    assert bottle.probabilities["glass"] >= plain.probabilities["glass"] - 1e-9
    feather = classifier.classify(image, 3.0)  # far below glass's 80 g minimum
    assert feather.weight_plausible is False
    assert feather.probabilities["glass"] < plain.probabilities["glass"]
    assert feather.image_probabilities == plain.probabilities
    assert np.isclose(sum(feather.probabilities.values()), 1.0)


def test_the_kernels_picked_for_this_cpu_give_the_exact_kernels_answers(
    shipped: OnnxClassifier, trashnet_dir: Path
) -> None:
    # Where the fast kernels are picked (VNNI, ARM) they must not change an answer: on an
    # AVX512-VNNI CPU their logits equal the exact kernels' bit for bit.
    exact = shipped.with_kernels("exact")
    photos = [s.path for s in select(trashnet_dir, shipped.labels, "test")][::5]
    for photo in photos:
        tensor = shipped.input_tensor(decode(photo))
        mine = shipped.image_probabilities(tensor)
        theirs = exact.image_probabilities(tensor)
        assert max(mine, key=mine.__getitem__) == max(theirs, key=theirs.__getitem__), photo
        assert mine == pytest.approx(theirs, abs=1e-4), photo
