"""The model shipped with the agent (package data): see docs/model-card.md."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

SHIPPED_MODEL = "deposit-classifier.onnx"


def shipped_model_path() -> Path:
    """Path of the shipped model file inside the installed package."""
    with as_file(files(__name__) / SHIPPED_MODEL) as path:
        return Path(path)
