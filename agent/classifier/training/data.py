"""Choosing the training photos, and feeding them to PyTorch through the inference preprocessing."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image as PILImage

from agent.classifier.dataset import Sample, Split
from agent.classifier.near_duplicates import Audit, Pair, without_contradictions
from agent.classifier.preprocess import Preprocessing, normalise, resize_pil
from agent.classifier.training.augment import AugmentSettings, augment

logger = logging.getLogger(__name__)


def fit_samples(
    split: Mapping[Split, Sequence[Sample]], train_on_val: bool, found: Audit
) -> tuple[list[Sample], list[Pair]]:
    """The photos to fit on: train (and val), less copies of one photo under two labels.

    Both copies of such a pair are left out, with a warning naming them: the model cannot
    learn two answers for one photo, and which label is right is not known.
    """
    fit = [*split["train"], *(split["val"] if train_on_val else [])]
    kept, pairs = without_contradictions(fit, found)
    for pair in pairs:
        logger.warning(
            "left out of training: %s and %s are the same photo under two labels (similarity %.3f)",
            pair.first.relpath,
            pair.second.relpath,
            pair.similarity,
        )
    return kept, pairs


def load_picture(sample: Sample) -> PILImage.Image:
    """The sample's photo as RGB."""
    with PILImage.open(sample.path) as picture:
        return picture.convert("RGB")


def batches(
    samples: Sequence[Sample],
    labels: Sequence[str],
    prep: Preprocessing,
    batch_size: int,
    rng: np.random.Generator | None = None,
    settings: AugmentSettings | None = None,
) -> Iterator[tuple[Any, Any]]:
    """(inputs, targets) tensors; shuffled and augmented when ``rng`` is given.

    Without ``rng`` the photos go through exactly the inference preprocessing.
    """
    import torch

    order = np.arange(len(samples))
    if rng is not None:
        rng.shuffle(order)
    index = {label: i for i, label in enumerate(labels)}
    for start in range(0, len(order), batch_size):
        chunk = [samples[i] for i in order[start : start + batch_size]]
        arrays = []
        for sample in chunk:
            picture = load_picture(sample)
            if rng is not None:
                view = augment(picture, prep.size, settings or AugmentSettings(), rng)
            else:
                view = resize_pil(picture, prep.size)
            arrays.append(normalise(np.asarray(view, dtype=np.uint8), prep.mean, prep.std))
        inputs = torch.from_numpy(np.stack(arrays)).contiguous(memory_format=torch.channels_last)
        targets = torch.tensor([index[s.label] for s in chunk], dtype=torch.long)
        yield inputs, targets
