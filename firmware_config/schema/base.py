"""What every section of the device configuration shares: the strict base model, identifier
patterns, the material categories and the classifier backend names.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

BIN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,62}$"


REGION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


CATEGORIES = ("cardboard", "glass", "metal", "paper", "plastic", "trash")


Category = Literal["cardboard", "glass", "metal", "paper", "plastic", "trash"]


BcmPin = Annotated[int, Field(ge=0, le=27)]


_CLASSIFIER_TYPES: set[str] = {"onnx"}
"""Names ``classifier.type`` accepts: the built-in backends and those registered since.

``agent.classifier.registry.register_backend`` adds a plug-in's name here, so the
configuration accepts exactly the backends the agent can build (the schema cannot import
the registry: the registry imports the schema, and the backends' libraries are heavy).
"""


def register_classifier_type(name: str) -> None:
    """Let ``classifier.type`` name a newly registered backend."""
    _CLASSIFIER_TYPES.add(name)


def unregister_classifier_type(name: str) -> None:
    """Forget a backend name again (the registry's ``unregister_backend``)."""
    _CLASSIFIER_TYPES.discard(name)


def classifier_types() -> list[str]:
    """The names ``classifier.type`` accepts, sorted."""
    return sorted(_CLASSIFIER_TYPES)


class Section(BaseModel):
    """Base of every configuration section: strict keys, validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
