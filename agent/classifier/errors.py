"""The classifier's errors: each names the file, key or folder at fault."""

from __future__ import annotations

from agent.errors import AgentError


class ClassifierError(AgentError):
    """Root of the deposit classifier's errors."""


class ModelFileError(ClassifierError, OSError):
    """The model file is missing or cannot be read as a model."""


class ModelMetadataError(ClassifierError, ValueError):
    """The model file lacks a required metadata key, or a value is malformed."""


class ImageError(ClassifierError, ValueError):
    """An image is not an RGB photo the classifier can read."""


class DatasetError(ClassifierError, ValueError):
    """A data directory is not an ImageFolder the model's labels can be matched to."""


class UnknownBackendError(ClassifierError, LookupError):
    """The configuration names a classifier type that is not registered."""
