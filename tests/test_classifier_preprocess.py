"""Preprocessing in numpy and Pillow, and the errors for images it cannot use."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from agent.classifier.errors import ImageError
from agent.classifier.preprocess import (
    Preprocessing,
    check_image,
    decode,
    normalise,
    resize,
)


def test_resize_squashes_the_whole_photo() -> None:
    image = np.zeros((320, 240, 3), dtype=np.uint8)
    image[:160] = 255  # top half white
    out = resize(image, 32)
    assert out.shape == (32, 32, 3)
    assert out.dtype == np.uint8
    assert out[:15].min() == 255  # the white half still fills the top half: no crop
    assert out[17:].max() == 0


def test_normalise_maps_values_and_layout() -> None:
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[..., 0] = 255
    image[..., 1] = 127
    out = normalise(image, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
    assert out.shape == (3, 2, 2)
    assert out.dtype == np.float32
    assert out[0, 0, 0] == pytest.approx(1.0)
    assert out[1, 0, 0] == pytest.approx(0.0)
    assert out[2, 0, 0] == pytest.approx(-127 / 128)


def test_tensor_is_batched_nchw() -> None:
    prep = Preprocessing(24, (0.0, 0.0, 0.0), (255.0, 255.0, 255.0))
    tensor = prep.tensor(np.full((40, 30, 3), 255, dtype=np.uint8))
    assert tensor.shape == (1, 3, 24, 24)
    assert tensor.flags["C_CONTIGUOUS"]
    assert np.allclose(tensor, 1.0)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([[1, 2, 3]], "numpy array"),
        (np.zeros((4, 4, 3), dtype=np.float32), "dtype uint8"),
        (np.zeros((4, 4), dtype=np.uint8), "shape (height, width, 3)"),
        (np.zeros((4, 4, 4), dtype=np.uint8), "shape (height, width, 3)"),
        (np.zeros((0, 4, 3), dtype=np.uint8), "empty"),
    ],
)
def test_wrong_images_are_refused_with_the_reason(image: object, message: str) -> None:
    with pytest.raises(ImageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_image(image)


def test_decode_reads_jpeg_and_converts_to_rgb(tmp_path: Path) -> None:
    path = tmp_path / "grey.jpg"
    PILImage.new("L", (10, 8), 200).save(path)
    image = decode(path)
    assert image.shape == (8, 10, 3)
    assert abs(int(image[0, 0, 0]) - 200) <= 2


def test_decode_bytes() -> None:
    buffer = io.BytesIO()
    PILImage.new("RGB", (5, 5), (10, 20, 30)).save(buffer, format="PNG")
    assert decode(buffer.getvalue())[2, 2].tolist() == [10, 20, 30]


def test_decode_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match=r"broken\.jpg: not a readable image"):
        decode(broken)
    with pytest.raises(ImageError, match=r"missing\.jpg: file not found"):
        decode(tmp_path / "missing.jpg")


@pytest.mark.parametrize(
    ("mean", "std"),
    [((127.0, 127.0, 127.0), (128.0, 128.0, 128.0)), ((123.7, 116.3, 103.5), (58.4, 57.1, 57.4))],
)
def test_normalise_equals_the_plain_formula_bit_for_bit(
    mean: tuple[float, float, float], std: tuple[float, float, float]
) -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(30, 20, 3), dtype=np.uint8)
    m = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
    s = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
    expected = (image.astype(np.float32).transpose(2, 0, 1) - m) / s
    assert np.array_equal(normalise(image, mean, std), expected)
