"""``bin-agent model train``: split, fine-tune, export, quantise, measure, label.

The steps, all reproducible from the data directory:

1. list the ImageFolder and split it by :data:`agent.classifier.dataset.SPLIT_RULE`;
2. fine-tune on ``train`` (``val`` is watched each epoch; ``test`` is never touched),
   leaving out photos that appear under two labels
   (:func:`~agent.classifier.training.data.fit_samples`);
3. export fp32 ONNX and quantise to int8, calibrated on training photos;
4. keep int8 when its ``val`` accuracy is within ``int8_tolerance`` of fp32's, else fp32;
5. measure the kept model on ``test`` (photos used neither to train nor to choose), also
   without the test photos that have a near duplicate in train or val, and write
   everything, accuracies included, into the model's metadata.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.classifier.dataset import (
    SPLIT_RULE,
    Sample,
    list_image_folder,
    split_counts,
    split_samples,
)
from agent.classifier.errors import DatasetError, ModelFileError
from agent.classifier.evaluate import Evaluation, evaluate
from agent.classifier.metadata import ModelMetadata
from agent.classifier.near_duplicates import MIN_SIMILARITY, Pair, audit
from agent.classifier.onnx_backend import OnnxClassifier
from agent.classifier.preprocess import RESIZE_POLICY, Preprocessing
from agent.classifier.result import CATEGORY_NAMES
from agent.classifier.training.data import fit_samples
from agent.classifier.training.export import (
    calibration_samples,
    export_onnx,
    quantise,
    write_metadata,
)
from agent.classifier.training.loop import EpochLog, TrainSettings, train
from agent.classifier.training.network import ARCHITECTURE, build_network

logger = logging.getLogger(__name__)

MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    """What to train and how to package it."""

    data: Path
    out: Path
    size: int = 224
    train: TrainSettings = field(default_factory=TrainSettings)
    int8: bool = True
    int8_tolerance: float = 0.005
    calibration_photos: int = 300
    version: str | None = None
    save_weights: Path | None = None
    weights: Path | None = None
    """Fine-tuned weights to package instead of training (from an earlier ``save_weights``)."""
    train_on_val: bool = False
    """Train on train + val (for a final model once the recipe is fixed); test stays out."""


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """What the run produced and measured."""

    out: Path
    precision: str
    history: list[EpochLog]
    val_fp32: float | None
    val_int8: float | None
    test: Evaluation | None
    train_seconds: float
    counts: dict[str, dict[str, int]]


def _labels(data: Path) -> list[str]:
    samples = list_image_folder(data)
    labels = sorted({s.label for s in samples})
    unknown = [label for label in labels if label not in CATEGORY_NAMES]
    if unknown:
        raise DatasetError(
            f"{data}: folder(s) {', '.join(unknown)} are not deposit categories "
            f"({', '.join(CATEGORY_NAMES)})"
        )
    return labels


def _describe(
    settings: PipelineSettings,
    counts: dict[str, dict[str, int]],
    dropped: Sequence[Pair],
    leaked: int,
) -> str:
    n = {part: sum(per_class.values()) for part, per_class in counts.items()}
    val_use = (
        "also trained on; used for the int8 check"
        if settings.train_on_val
        else "not trained on; watched per epoch and used for the int8 check"
    )
    text = (
        f"ImageFolder '{settings.data.name}', fine-tuned from ImageNet EfficientNet-Lite0 "
        f"at {settings.size} px: {n['train']} train photos, {n['val']} val ({val_use}), "
        f"{n['test']} test (never trained on, never used by the pipeline for a choice; "
        f"{leaked} of them have a near duplicate in train or val)"
    )
    if dropped:
        names = sorted({p.first.relpath for p in dropped} | {p.second.relpath for p in dropped})
        text += f"; left out of training as one photo under two labels: {', '.join(names)}"
    return text


def _val_accuracy(path: Path, data: Path) -> float:
    return evaluate(OnnxClassifier(path), data, split="val").scores.accuracy


def run(
    settings: PipelineSettings, on_epoch: Callable[[EpochLog], None] | None = None
) -> PipelineResult:
    """Train (or load weights), export, quantise, evaluate and write the model file."""
    import torch

    labels = _labels(settings.data)
    split = split_samples(list_image_folder(settings.data, labels))
    counts = split_counts(split)
    if not split["train"]:
        raise DatasetError(f"{settings.data}: the training split is empty")
    found = audit(split)
    fit, dropped = fit_samples(split, settings.train_on_val, found)
    prep = Preprocessing(settings.size, MEAN, STD)
    started = time.monotonic()
    history: list[EpochLog] = []
    if settings.weights is not None:
        model: Any = build_network(len(labels), settings.size, pretrained=False)
        try:
            model.load_state_dict(torch.load(settings.weights, weights_only=True))
        except (
            RuntimeError,
            OSError,
            ValueError,
            KeyError,
            EOFError,
            pickle.UnpicklingError,
        ) as err:
            raise ModelFileError(
                f"{settings.weights}: not fine-tuned EfficientNet-Lite0 weights for "
                f"{len(labels)} labels ({str(err).splitlines()[0]})"
            ) from err
        model.eval()
    else:
        model, history = train(
            fit,
            [] if settings.train_on_val else split["val"],
            labels,
            prep,
            settings.train,
            checkpoint=settings.save_weights,
            on_epoch=on_epoch,
        )
    train_seconds = time.monotonic() - started
    version = settings.version or f"{ARCHITECTURE}-{settings.data.name}-{dt.date.today():%Y%m%d}"
    base = ModelMetadata(
        labels=tuple(labels),
        input_size=settings.size,
        mean=MEAN,
        std=STD,
        version=version,
        precision="fp32",
        resize=RESIZE_POLICY,
        architecture=ARCHITECTURE,
        training_data=_describe(
            settings,
            counts,
            dropped if settings.weights is None else [],
            len(found.leaked("test")),
        ),
        split={"rule": SPLIT_RULE, "counts": counts},
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        export_onnx(model, settings.size, fp32)
        write_metadata(fp32, base)
        val_fp32 = _val_accuracy(fp32, settings.data) if split["val"] else None
        logger.info("fp32 val accuracy %s", val_fp32)
        chosen, precision, val_int8 = fp32, "fp32", None
        if settings.int8:
            int8 = Path(tmp) / "model-int8.onnx"
            rng = np.random.default_rng(settings.train.seed)
            calibration: list[Sample] = calibration_samples(
                split["train"], settings.calibration_photos, rng
            )
            quantise(fp32, int8, calibration, prep, reduce_range=True)
            write_metadata(int8, replace(base, precision="int8", weight_bits=7))
            val_int8 = _val_accuracy(int8, settings.data) if split["val"] else None
            logger.info("int8 val accuracy %s", val_int8)
            if val_int8 is None or val_fp32 is None:
                keep_int8 = True  # nothing to compare on: the smaller, faster model
            else:
                keep_int8 = val_int8 >= val_fp32 - settings.int8_tolerance
            if keep_int8:
                chosen, precision = int8, "int8"
        final = replace(base, precision=precision)
        test = None
        if split["test"]:
            write_metadata(chosen, final)
            test = evaluate(OnnxClassifier(chosen), settings.data, split="test")
            accuracy: dict[str, Any] = {
                "split": "test",
                "accuracy": round(test.scores.accuracy, 4),
                "n": test.scores.n,
                "val_trained_on": settings.train_on_val,
            }
            if val_fp32 is not None:
                accuracy["val_accuracy_fp32"] = round(val_fp32, 4)
            if val_int8 is not None:
                accuracy["val_accuracy_int8"] = round(val_int8, 4)
            leaked = [sample.relpath for sample in found.leaked("test")]
            accuracy["near_duplicates_excluded"] = len(leaked)
            accuracy["near_duplicates_excluded_files"] = leaked
            accuracy["near_duplicate_min_similarity"] = MIN_SIMILARITY
            accuracy["accuracy_without_near_duplicates"] = None
            accuracy["n_without_near_duplicates"] = len(split["test"]) - len(leaked)
            if len(leaked) < len(split["test"]):
                clean = evaluate(
                    OnnxClassifier(chosen),
                    settings.data,
                    split="test",
                    exclude_near_duplicates=True,
                )
                accuracy["accuracy_without_near_duplicates"] = round(clean.scores.accuracy, 4)
            if chosen != fp32:
                fp32_test = evaluate(OnnxClassifier(fp32), settings.data, split="test")
                accuracy["test_accuracy_fp32"] = round(fp32_test.scores.accuracy, 4)
            final = replace(final, accuracy=accuracy)
        write_metadata(chosen, final)
        settings.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(chosen, settings.out)
    return PipelineResult(
        out=settings.out,
        precision=precision,
        history=history,
        val_fp32=val_fp32,
        val_int8=val_int8,
        test=test,
        train_seconds=train_seconds,
        counts=counts,
    )
