"""The ONNX backend, its metadata, and the registry, on a tiny colour model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.classifier import (
    Classification,
    DepositClassifier,
    ImageError,
    ModelFileError,
    ModelMetadataError,
    UnknownBackendError,
    backends,
    build_classifier,
    register_backend,
    unregister_backend,
)
from agent.classifier.cpu import CpuFeatures
from agent.classifier.metadata import ModelMetadata
from agent.classifier.onnx_backend import OnnxClassifier
from agent.hardware.devices import Image
from firmware_config.schema import Classifier, WeightRange
from tests.support.tiny_model import TINY_LABELS, TINY_SIZE, tiny_metadata_props, write_tiny


def solid(rgb: tuple[int, int, int], height: int = 48, width: int = 36) -> Image:
    """A photo of one colour."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[...] = rgb
    return image


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """The tiny colour model with complete metadata."""
    return write_tiny(tmp_path / "tiny.onnx", tiny_metadata_props())


def test_metadata_round_trips_through_the_model_file(tmp_path: Path) -> None:
    written = ModelMetadata(
        labels=TINY_LABELS,
        input_size=TINY_SIZE,
        mean=(120.0, 121.0, 122.0),
        std=(60.0, 61.0, 62.5),
        version="tiny-2",
        precision="int8",
        architecture="tiny",
        training_data="none: a hand-made colour scorer",
        split={"rule": "none", "counts": {"test": {"glass": 3}}},
        accuracy={"split": "test", "accuracy": 0.5, "n": 6},
        created="2026-01-01T00:00:00+00:00",
    )
    path = write_tiny(tmp_path / "m.onnx", written.to_props())
    assert OnnxClassifier(path).metadata == written


def test_classifies_by_colour_and_reports_the_model_version(tiny: Path) -> None:
    classifier = OnnxClassifier(tiny, weight_check=False)
    assert isinstance(classifier, DepositClassifier)
    result = classifier.classify(solid((255, 0, 0)), 100.0)
    assert isinstance(result, Classification)
    assert result.category == "metal"
    assert result.model_version == "tiny-colour-1"
    assert classifier.version == classifier.model_version == "tiny-colour-1"
    assert result.confidence == pytest.approx(max(result.probabilities.values()))
    assert sum(result.probabilities.values()) == pytest.approx(1.0)
    assert set(result.probabilities) == set(TINY_LABELS)
    assert result.weight_plausible is None
    assert classifier.classify(solid((0, 255, 0)), None).category == "glass"
    assert classifier.classify(solid((0, 0, 255)), None).category == "plastic"


def test_weight_check_overrules_an_implausible_image_answer(tiny: Path) -> None:
    ranges = {
        "metal": WeightRange(min_g=5, max_g=100),
        "glass": WeightRange(min_g=200, max_g=2500),
        "plastic": WeightRange(min_g=2, max_g=1500),
    }
    classifier = OnnxClassifier(tiny, weight_ranges=ranges)
    # Red-green photo: the image says metal first, glass second.
    image = solid((255, 200, 0))
    assert classifier.classify(image, None).category == "metal"
    heavy = classifier.classify(image, 900.0)
    assert heavy.category == "glass"
    assert heavy.weight_plausible is False
    assert heavy.weight_reason is not None
    assert "metal" in heavy.weight_reason
    assert heavy.image_probabilities["metal"] > heavy.image_probabilities["glass"]
    light = classifier.classify(image, 50.0)
    assert light.category == "metal"
    assert light.weight_plausible is True
    assert light.weight_reason is None


def test_weight_fitting_no_category_is_unknown(tiny: Path) -> None:
    ranges = {label: WeightRange(min_g=1, max_g=10) for label in TINY_LABELS}
    result = OnnxClassifier(tiny, weight_ranges=ranges).classify(solid((255, 0, 0)), 5000.0)
    assert result.category == "unknown"
    assert result.confidence == 0.0
    assert result.weight_reason == "5000 g fits no category's weight range"


def test_missing_model_file_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.onnx"
    with pytest.raises(ModelFileError, match=r"absent\.onnx: model file not found"):
        OnnxClassifier(missing)


def test_a_file_that_is_not_a_model_names_it(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(ModelFileError, match=r"junk\.onnx: not a loadable ONNX model"):
        OnnxClassifier(junk)


def test_model_without_metadata_is_refused_naming_file_and_keys(tmp_path: Path) -> None:
    bare = write_tiny(tmp_path / "bare.onnx")
    with pytest.raises(ModelMetadataError, match=r"bare\.onnx: .*revloop\.labels"):
        OnnxClassifier(bare)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"version": ""}, r"lacks required key\(s\) revloop\.version"),
        ({"labels": "not json"}, r"revloop\.labels is not valid JSON"),
        ({"labels": '["glass", "glass"]'}, r"revloop\.labels must be a JSON list of distinct"),
        ({"labels": '["glass", "cans", "a", "b", "c", "d"]'}, r"unknown categories cans, a"),
        ({"labels": '["glass", "metal"]'}, r"output shape .* does not match the 2 labels"),
        ({"input_size": "224"}, r"input shape .* does not match revloop\.input_size 224"),
        ({"input_size": "big"}, r"revloop\.input_size is not an integer"),
        ({"mean": "[1, 2]"}, r"revloop\.mean must be a JSON list of 3 numbers"),
        ({"std": "[1, 0, 1]"}, r"revloop\.std contains 0"),
        ({"resize": "crop"}, r"revloop\.resize 'crop' is not supported"),
        ({"precision": "fp16"}, r"revloop\.precision must be one of int8, fp32"),
        ({"weight_bits": "4"}, r"revloop\.weight_bits must be one of 7, 8, not '4'"),
    ],
)
def test_bad_metadata_is_refused_with_the_key(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    path = write_tiny(tmp_path / "bad.onnx", tiny_metadata_props(**overrides))
    with pytest.raises(ModelMetadataError, match=message):
        OnnxClassifier(path)


def test_wrong_image_is_refused(tiny: Path) -> None:
    classifier = OnnxClassifier(tiny)
    with pytest.raises(ImageError, match="dtype uint8"):
        classifier.classify(np.zeros((8, 8, 3), dtype=np.float64), None)
    with pytest.raises(ImageError, match="shape"):
        classifier.classify(np.zeros((8, 8), dtype=np.uint8), None)


def test_registry_builds_the_configured_backend(tiny: Path) -> None:
    assert "onnx" in backends()
    config = Classifier(model=tiny, threads=1, weight_check=False)
    classifier = build_classifier(config)
    assert isinstance(classifier, OnnxClassifier)
    assert classifier.weight_check is False
    assert classifier.classify(solid((0, 0, 255)), 10.0).category == "plastic"


def test_registry_passes_weight_settings_from_config(tiny: Path) -> None:
    config = Classifier(
        model=tiny,
        weight_ranges_g={"metal": WeightRange(min_g=1, max_g=2)},
        weight_margin=0.5,
        weight_floor=0.2,
    )
    classifier = build_classifier(config)
    assert isinstance(classifier, OnnxClassifier)
    assert set(classifier.weight_ranges) == {"metal"}
    assert (classifier.weight_margin, classifier.weight_floor) == (0.5, 0.2)


def test_unknown_backend_type_names_it_and_the_registered_ones() -> None:
    # model_construct skips validation: the schema itself only admits registered types.
    config = Classifier.model_construct(type="tflite")
    with pytest.raises(UnknownBackendError, match=r"'tflite' is not a registered backend.*onnx"):
        build_classifier(config)


def test_a_plugged_in_backend_is_chosen_by_type() -> None:
    class Fixed:
        """Always answers paper."""

        model_version = "fixed-1"
        version = "fixed-1"

        def classify(self, image: Image, weight_g: float | None) -> Classification:
            return Classification("paper", 1.0, {"paper": 1.0}, self.model_version, None)

    def factory(config: Classifier) -> DepositClassifier:
        return Fixed()

    register_backend("fixed-test", factory)
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_backend("fixed-test", lambda config: Fixed())
        config = Classifier(type="fixed-test")  # the schema accepts a registered name
        classifier = build_classifier(config)
        assert classifier.classify(solid((1, 2, 3)), None).category == "paper"
    finally:
        unregister_backend("fixed-test")
    assert "fixed-test" not in backends()
    with pytest.raises(ValueError, match="built in"):
        unregister_backend("onnx")


X86_AVX2 = CpuFeatures("x86_64", "AMD EPYC", frozenset({"sse4_2", "avx2", "fma"}))
X86_VNNI = CpuFeatures("x86_64", "AMD EPYC", frozenset({"avx2", "avx512f", "avx512_vnni"}))
X86_AVX_VNNI = CpuFeatures("x86_64", "Intel Core", frozenset({"avx2", "avx_vnni"}))
X86_UNREADABLE = CpuFeatures("x86_64", "unknown", frozenset())
PI_4 = CpuFeatures("aarch64", "unknown", frozenset({"fp", "asimd", "crc32", "cpuid"}))


@pytest.mark.parametrize(
    ("cpu", "exact"),
    [(X86_AVX2, "1"), (X86_UNREADABLE, "1"), (X86_VNNI, ""), (X86_AVX_VNNI, ""), (PI_4, "")],
)
def test_shipped_model_asks_for_exact_int8_kernels_only_where_sums_saturate(
    cpu: CpuFeatures, exact: str
) -> None:
    # On x86 without VNNI the fast kernels gave 6 of the shipped model's 302 test answers
    # differently; elsewhere the exact ones only cost time (11.5 against 6.5 ms a photo
    # on an AVX512-VNNI CPU, the same answers bit for bit).
    classifier = OnnxClassifier(None, weight_check=False, cpu=cpu)
    assert classifier.kernels == ("exact" if exact else "fast")
    assert exact_kernels_asked(classifier) == exact


@pytest.mark.parametrize(("bits", "exact"), [("", "1"), ("8", "1"), ("7", "")])
def test_only_8_bit_int8_weights_need_the_exact_kernels(
    tmp_path: Path, bits: str, exact: str
) -> None:
    # 7-bit weights (reduce_range) cannot saturate the fast kernels: no slower exact ones.
    path = write_tiny(tmp_path / "m.onnx", tiny_metadata_props(precision="int8", weight_bits=bits))
    classifier = OnnxClassifier(path, weight_check=False, cpu=X86_AVX2)
    assert classifier.metadata.weight_bits == int(bits or "8")
    assert exact_kernels_asked(classifier) == exact


def test_float_models_never_ask_for_exact_int8_kernels(tiny: Path) -> None:
    classifier = OnnxClassifier(tiny, weight_check=False, cpu=X86_AVX2)
    assert classifier.metadata.precision == "fp32"
    assert classifier.kernels == "fast"
    assert exact_kernels_asked(classifier) == ""


def exact_kernels_asked(classifier: OnnxClassifier) -> str:
    """The session's x64quantprecision entry ("" when it was never set)."""
    options = classifier.session.get_session_options()
    try:
        return str(options.get_session_config_entry("session.x64quantprecision"))
    except RuntimeError:  # onnxruntime raises for an entry never set
        return ""
