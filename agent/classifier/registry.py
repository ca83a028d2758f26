"""Classifier backends by the configuration's ``type``.

Each backend is a small class with a ``from_config`` constructor; adding a model kind
means registering one more factory here (or from a plug-in via :func:`register_backend`,
which also makes ``classifier.type`` in the configuration accept its name).
"""

from __future__ import annotations

from collections.abc import Callable

from agent.classifier.errors import UnknownBackendError
from agent.classifier.onnx_backend import OnnxClassifier
from agent.classifier.result import DepositClassifier
from firmware_config.schema import (
    Classifier,
    register_classifier_type,
    unregister_classifier_type,
)

BackendFactory = Callable[[Classifier], DepositClassifier]

_BUILT_IN: dict[str, BackendFactory] = {"onnx": OnnxClassifier.from_config}
_BACKENDS: dict[str, BackendFactory] = dict(_BUILT_IN)


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``factory`` build the classifier for ``classifier.type = name``."""
    if name in _BACKENDS and _BACKENDS[name] is not factory:
        raise ValueError(f"classifier backend {name!r} is already registered")
    _BACKENDS[name] = factory
    register_classifier_type(name)


def unregister_backend(name: str) -> None:
    """Forget a backend registered with :func:`register_backend` (the built-ins stay)."""
    if name in _BUILT_IN:
        raise ValueError(f"classifier backend {name!r} is built in and cannot be removed")
    _BACKENDS.pop(name, None)
    unregister_classifier_type(name)


def backends() -> dict[str, BackendFactory]:
    """The registered backends by type name."""
    return dict(_BACKENDS)


def build_classifier(config: Classifier) -> DepositClassifier:
    """The classifier named by ``config.type``, built from the rest of ``config``."""
    factory = _BACKENDS.get(config.type)
    if factory is None:
        raise UnknownBackendError(
            f"classifier.type = {config.type!r} is not a registered backend "
            f"(registered: {', '.join(sorted(_BACKENDS))})"
        )
    return factory(config)
