"""``bin-agent model eval`` and ``model train``: output formats and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image as PILImage

import agent.classifier.cli as classifier_cli
from agent.classifier.dataset import list_image_folder, split_samples
from agent.cli.main import cli
from tests.support.tiny_model import tiny_metadata_props, write_tiny

COLOURS = {"metal": (250, 10, 10), "glass": (10, 250, 10), "plastic": (10, 10, 250)}


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """An ImageFolder the tiny model gets right except one red 'plastic' photo."""
    root = tmp_path / "photos"
    for label, rgb in COLOURS.items():
        (root / label).mkdir(parents=True)
        for i in range(4):
            PILImage.new("RGB", (30, 40), rgb).save(root / label / f"{i}.jpg")
    PILImage.new("RGB", (30, 40), COLOURS["metal"]).save(root / "plastic" / "odd.jpg")
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """The tiny colour model with complete metadata."""
    return write_tiny(tmp_path / "tiny.onnx", tiny_metadata_props())


def test_eval_json_is_one_object_with_the_figures(colour_folder: Path, tiny: Path) -> None:
    result = CliRunner().invoke(
        cli, ["model", "eval", "--data", str(colour_folder), "--model", str(tiny), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert isinstance(report, dict)
    assert report["n"] == 13
    assert report["accuracy"] == pytest.approx(12 / 13, abs=1e-4)
    assert 0 < report["latency_ms_p50"] <= report["latency_ms_p95"]
    assert report["kernels"] == "fast"  # an fp32 model has no int8 sums to saturate
    assert report["per_class"]["metal"] == {"precision": 0.8, "recall": 1.0, "support": 4}
    assert report["per_class"]["plastic"] == {"precision": 1.0, "recall": 0.8, "support": 5}
    assert report["per_class"]["paper"] == {"precision": None, "recall": None, "support": 0}
    matrix = report["confusion_matrix"]
    labels = matrix["labels"]
    row = matrix["rows_true_cols_predicted"][labels.index("plastic")]
    assert row[labels.index("metal")] == 1
    assert row[labels.index("plastic")] == 4
    assert report["model_version"] == "tiny-colour-1"
    assert report["split"] == "all"


def test_eval_text_report_has_every_section(colour_folder: Path, tiny: Path) -> None:
    result = CliRunner().invoke(
        cli, ["model", "eval", "--data", str(colour_folder), "--model", str(tiny)]
    )
    assert result.exit_code == 0, result.output
    assert "accuracy 0.9231" in result.output
    assert "p50" in result.output
    assert "p95" in result.output
    assert "Per class" in result.output
    assert "Confusion matrix" in result.output
    assert "plastic" in result.output


def test_eval_split_uses_only_that_part(colour_folder: Path, tiny: Path) -> None:
    args = ["--data", str(colour_folder), "--model", str(tiny), "--json", "--split", "test"]
    result = CliRunner().invoke(cli, ["model", "eval", *args, "--keep-near-duplicates"])
    assert result.exit_code == 0, result.output
    # round(0.15 * 4) = 1 per 4-photo class; round(0.15 * 5) = 1 for plastic.
    report = json.loads(result.output)
    assert report["n"] == 3
    assert report["near_duplicates_excluded"] == 0
    assert report["near_duplicate_min_similarity"] is None


def textured(rgb: tuple[int, int, int], seed: int) -> np.ndarray:
    """A photo of colour ``rgb`` with a random pattern of its own, for the audit to tell apart."""
    rng = np.random.default_rng(seed)
    pattern = rng.integers(-40, 40, size=(10, 8)).repeat(4, axis=0).repeat(4, axis=1)
    pixels = np.array(rgb, dtype=np.int64)[np.newaxis, np.newaxis, :] + pattern[:, :, None]
    out: np.ndarray = np.clip(pixels, 0, 255).astype(np.uint8)
    return out


@pytest.fixture
def leaky_folder(tmp_path: Path) -> tuple[Path, str]:
    """Distinct photos per class, except one train photo is a copy of a test photo."""
    root = tmp_path / "leaky"
    seed = 0
    for label, rgb in COLOURS.items():
        (root / label).mkdir(parents=True)
        for i in range(8):
            seed += 1
            PILImage.fromarray(textured(rgb, seed), mode="RGB").save(root / label / f"{i}.png")
    parts = split_samples(list_image_folder(root))
    leaked = next(s for s in parts["test"] if s.label == "glass")
    copy = next(s for s in parts["train"] if s.label == "glass")
    PILImage.open(leaked.path).save(copy.path)
    return root, leaked.relpath


def test_eval_test_split_leaves_out_near_duplicates_by_default(
    leaky_folder: tuple[Path, str], tiny: Path
) -> None:
    root, leaked = leaky_folder
    args = ["model", "eval", "--data", str(root), "--model", str(tiny), "--split", "test"]
    report = json.loads(CliRunner().invoke(cli, [*args, "--json"]).output)
    # round(0.15 * 8) = 1 test photo per class; the glass one has a twin in train.
    assert report["n"] == 2
    assert report["near_duplicates_excluded"] == 1
    assert report["near_duplicates_excluded_files"] == [leaked]
    assert report["near_duplicate_min_similarity"] == 0.85
    for key in ("accuracy", "latency_ms_p50", "latency_ms_p95"):
        assert key in report
    kept = json.loads(CliRunner().invoke(cli, [*args, "--json", "--keep-near-duplicates"]).output)
    assert kept["n"] == 3
    assert kept["near_duplicates_excluded"] == 0
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "near duplicates: 1 photo(s) with a near twin in a training part left out" in (
        " ".join(text.output.split())
    )
    assert leaked in text.output


def test_eval_refuses_to_exclude_near_duplicates_without_a_held_out_part(
    colour_folder: Path, tiny: Path
) -> None:
    args = ["--data", str(colour_folder), "--model", str(tiny), "--exclude-near-duplicates"]
    result = CliRunner().invoke(cli, ["model", "eval", *args])
    assert result.exit_code == 2
    assert "--exclude-near-duplicates needs --split test or --split val" in result.output


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing-model", "absent.onnx: model file not found"),
        ("bare-model", "model metadata lacks required key(s) revloop.labels"),
        ("missing-data", "nowhere: data directory not found"),
        ("empty-data", "no class folders"),
        ("unknown-folder", "folder(s) cans match no model label"),
        ("broken-photo", "metal/broken.jpg: not a readable image"),
    ],
)
def test_eval_errors_are_one_line_and_specific(
    tmp_path: Path, colour_folder: Path, tiny: Path, setup: str, message: str
) -> None:
    model, data = tiny, colour_folder
    if setup == "missing-model":
        model = tmp_path / "absent.onnx"
    elif setup == "bare-model":
        model = write_tiny(tmp_path / "bare.onnx")
    elif setup == "missing-data":
        data = tmp_path / "nowhere"
    elif setup == "empty-data":
        data = tmp_path / "empty"
        data.mkdir()
    elif setup == "unknown-folder":
        (colour_folder / "cans").mkdir()
        PILImage.new("RGB", (4, 4)).save(colour_folder / "cans" / "c.jpg")
    elif setup == "broken-photo":
        (colour_folder / "metal" / "broken.jpg").write_bytes(b"nope")
    result = CliRunner().invoke(
        cli, ["model", "eval", "--data", str(data), "--model", str(model), "--json"]
    )
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("error: ")
    assert message in result.output


def test_train_without_torch_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        classifier_cli, "TRAIN_MODULES", (*classifier_cli.TRAIN_MODULES, "no_such_module_xyz")
    )
    result = CliRunner().invoke(
        cli, ["model", "train", "--data", str(tmp_path), "--out", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "install the train extra: pip install '.[train]'" in result.output
    assert "missing: " in result.output
    assert "no_such_module_xyz" in result.output


def test_model_commands_have_help() -> None:
    for command in (["model"], ["model", "eval"], ["model", "train"]):
        result = CliRunner().invoke(cli, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output
