"""The deposit classifier: an image model fused with a tray-weight plausibility check.

``build_classifier(config.classifier)`` returns the backend named by the
configuration's ``type``; ``classify(image, weight_g)`` answers with a
:class:`Classification`. Training (PyTorch) lives in ``agent.classifier.training`` and
is imported only by ``bin-agent model train``.
"""

from agent.classifier.errors import (
    ClassifierError,
    DatasetError,
    ImageError,
    ModelFileError,
    ModelMetadataError,
    UnknownBackendError,
)
from agent.classifier.registry import (
    backends,
    build_classifier,
    register_backend,
    unregister_backend,
)
from agent.classifier.result import CATEGORY_NAMES, Classification, DepositClassifier

__all__ = [
    "CATEGORY_NAMES",
    "Classification",
    "ClassifierError",
    "DatasetError",
    "DepositClassifier",
    "ImageError",
    "ModelFileError",
    "ModelMetadataError",
    "UnknownBackendError",
    "backends",
    "build_classifier",
    "register_backend",
    "unregister_backend",
]
