"""Training-time augmentation in Pillow, driven by an injected numpy generator.

Each step keeps the photo a plausible view of the same item on a tray: a random crop
of most of the photo, flips and quarter turns (the camera looks down; an item has no
"up"), brightness, contrast and colour changes of a few tens of per cent (lighting in
bins varies), and occasionally a grey patch hiding part of the item. It ends with the
same resize as inference (:func:`agent.classifier.preprocess.resize_pil`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image as PILImage
from PIL import ImageEnhance

from agent.classifier.preprocess import resize_pil


@dataclass(frozen=True, slots=True)
class AugmentSettings:
    """How strong each augmentation is; the defaults are the shipped model's."""

    crop_scale: tuple[float, float] = (0.45, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.333)
    flip_p: float = 0.5
    rotate_p: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    erase_p: float = 0.25
    erase_scale: tuple[float, float] = (0.02, 0.15)


def random_crop_box(
    width: int, height: int, settings: AugmentSettings, rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """A box covering a random share of the area with a random aspect (RandomResizedCrop)."""
    area = width * height
    log_ratio = (math.log(settings.crop_ratio[0]), math.log(settings.crop_ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*settings.crop_scale)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left = int(rng.integers(0, width - w + 1))
            top = int(rng.integers(0, height - h + 1))
            return left, top, left + w, top + h
    return 0, 0, width, height


def augment(
    picture: PILImage.Image, size: int, settings: AugmentSettings, rng: np.random.Generator
) -> PILImage.Image:
    """One random training view of ``picture``, size x size RGB."""
    picture = picture.convert("RGB")
    picture = picture.crop(random_crop_box(picture.width, picture.height, settings, rng))
    picture = resize_pil(picture, size)
    if rng.random() < settings.flip_p:
        picture = picture.transpose(PILImage.Transpose.FLIP_LEFT_RIGHT)
    if rng.random() < settings.flip_p:
        picture = picture.transpose(PILImage.Transpose.FLIP_TOP_BOTTOM)
    if rng.random() < settings.rotate_p:
        picture = picture.transpose(PILImage.Transpose.ROTATE_90)
    for enhancer, strength in (
        (ImageEnhance.Brightness, settings.brightness),
        (ImageEnhance.Contrast, settings.contrast),
        (ImageEnhance.Color, settings.saturation),
    ):
        if strength > 0:
            picture = enhancer(picture).enhance(rng.uniform(1 - strength, 1 + strength))
    if rng.random() < settings.erase_p:
        picture = _erase(picture, settings, rng)
    return picture


def _erase(
    picture: PILImage.Image, settings: AugmentSettings, rng: np.random.Generator
) -> PILImage.Image:
    """Cover a random rectangle with mid grey (random erasing)."""
    pixels = np.array(picture)
    height, width = pixels.shape[:2]
    area = height * width * rng.uniform(*settings.erase_scale)
    ratio = math.exp(rng.uniform(math.log(0.3), math.log(3.3)))
    h = min(height, max(1, round(math.sqrt(area * ratio))))
    w = min(width, max(1, round(math.sqrt(area / ratio))))
    top = int(rng.integers(0, height - h + 1))
    left = int(rng.integers(0, width - w + 1))
    pixels[top : top + h, left : left + w] = 127
    return PILImage.fromarray(pixels, mode="RGB")
