"""The fine-tuning loop: every layer trained, one-cycle schedule, label smoothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agent.classifier.dataset import Sample
from agent.classifier.preprocess import Preprocessing
from agent.classifier.training.augment import AugmentSettings
from agent.classifier.training.data import batches
from agent.classifier.training.network import build_network

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainSettings:
    """Hyper-parameters of one training run; the defaults made the shipped model."""

    epochs: int = 12
    batch_size: int = 32
    backbone_lr: float = 6e-4
    head_lr: float = 3e-3
    weight_decay: float = 0.02
    label_smoothing: float = 0.1
    warmup_fraction: float = 0.1
    dropout: float = 0.3
    drop_connect: float = 0.2
    freeze_blocks: int = -1
    """The stem and this many first MBConv blocks keep their ImageNet weights (-1: none)."""
    threads: int = 2
    seed: int = 20261121
    pretrained: bool = True
    augment: AugmentSettings = field(default_factory=AugmentSettings)


@dataclass(slots=True)
class EpochLog:
    """What one epoch achieved."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None
    seconds: float


def evaluate_torch(
    model: Any, samples: Sequence[Sample], labels: Sequence[str], prep: Preprocessing
) -> float:
    """Accuracy of the PyTorch model on ``samples`` with inference preprocessing."""
    import torch

    if not samples:
        return float("nan")
    model.eval()
    correct = 0
    with torch.no_grad():
        for inputs, targets in batches(samples, labels, prep, 64):
            correct += int((model(inputs).argmax(dim=1) == targets).sum())
    return correct / len(samples)


def _frozen_modules(model: Any, freeze_blocks: int) -> list[Any]:
    """The stem and the first ``freeze_blocks`` blocks; nothing when ``freeze_blocks`` < 0."""
    if freeze_blocks < 0:
        return []
    return [model._conv_stem, model._bn0, *model._blocks[:freeze_blocks]]


def train(
    train_samples: Sequence[Sample],
    val_samples: Sequence[Sample],
    labels: Sequence[str],
    prep: Preprocessing,
    settings: TrainSettings,
    checkpoint: Path | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
) -> tuple[Any, list[EpochLog]]:
    """Fine-tune EfficientNet-Lite0 on ``train_samples``; val accuracy is only reported."""
    import torch
    from torch import nn

    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = build_network(
        len(labels),
        prep.size,
        pretrained=settings.pretrained,
        dropout=settings.dropout,
        drop_connect=settings.drop_connect,
    ).to(memory_format=torch.channels_last)
    frozen = _frozen_modules(model, settings.freeze_blocks)
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    head = list(model._fc.parameters())
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad]
    optimiser = torch.optim.AdamW(
        [
            {"params": backbone, "lr": settings.backbone_lr},
            {"params": head, "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    steps_per_epoch = max(1, -(-len(train_samples) // settings.batch_size))
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser,
        max_lr=[settings.backbone_lr, settings.head_lr],
        total_steps=settings.epochs * steps_per_epoch,
        pct_start=settings.warmup_fraction,
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=settings.label_smoothing)
    history: list[EpochLog] = []
    for epoch in range(1, settings.epochs + 1):
        started = time.monotonic()
        model.train()
        for module in frozen:
            module.eval()  # frozen batch norms keep their ImageNet statistics
        total_loss = 0.0
        correct = 0
        seen = 0
        for inputs, targets in batches(
            train_samples, labels, prep, settings.batch_size, rng, settings.augment
        ):
            optimiser.zero_grad(set_to_none=True)
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
            loss.backward()
            optimiser.step()
            schedule.step()
            total_loss += loss.item() * len(targets)
            correct += int((outputs.argmax(dim=1) == targets).sum())
            seen += len(targets)
        val_accuracy = evaluate_torch(model, val_samples, labels, prep) if val_samples else None
        entry = EpochLog(
            epoch, total_loss / seen, correct / seen, val_accuracy, time.monotonic() - started
        )
        history.append(entry)
        logger.info(
            "epoch %d/%d loss %.4f train acc %.4f val acc %s (%.0f s)",
            epoch,
            settings.epochs,
            entry.train_loss,
            entry.train_accuracy,
            "n/a" if val_accuracy is None else f"{val_accuracy:.4f}",
            entry.seconds,
        )
        if on_epoch is not None:
            on_epoch(entry)
        if checkpoint is not None:
            torch.save(model.state_dict(), checkpoint)
    model.eval()
    return model, history
