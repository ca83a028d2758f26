"""Device configuration: profiles load, errors name the key path, the CLI exits right."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from agent.classifier import DepositClassifier, register_backend, unregister_backend
from agent.cli.main import cli
from firmware_config import PROFILES_DIR, ConfigError, load_config, parse_config
from firmware_config.schema import DeviceConfig, Section


@pytest.mark.parametrize("profile", sorted(PROFILES_DIR.glob("*.toml")), ids=lambda p: p.stem)
def test_shipped_profiles_are_valid(profile: Path) -> None:
    config = load_config(profile)
    assert config.identity.bin_id


BIN = '[identity]\nbin_id = "bin-001"\n[hardware]\nbackend = "sim-device"\n'
"""The smallest valid configuration file."""


def issues_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return {issue.path: issue.message for issue in caught.value.issues}


def test_errors_name_every_key_path() -> None:
    found = issues_of(
        """
[identity]
bin_id = "Not Valid"
[intake]
min_confidense = 0.5
[broker]
port = 70000
[broker.tls]
enabled = true
"""
    )
    assert "identity.bin_id" in found
    assert found["intake.min_confidense"] == "unknown key; did you mean 'min_confidence'?"
    assert "broker.port" in found
    assert "ca_file" in found["broker.tls"]


def test_missing_identity_is_reported() -> None:
    assert issues_of("[hardware]\nbackend = 'rpi'\n") == {"identity": "required key is missing"}


def test_cross_field_rules() -> None:
    found = issues_of(
        """
[identity]
bin_id = "bin-001"
[pins]
flap = 17
[thresholds]
lock_fill_pct = 80
unlock_fill_pct = 90
"""
    )
    assert "BCM 17" in found["pins"]
    assert "unlock_fill_pct" in found["thresholds"]


def test_error_carries_line_number() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BIN + "\n[broker]\nport = 0\n")
    (issue,) = caught.value.issues
    assert issue.path == "broker.port"
    assert issue.line == 7


def test_relative_paths_resolve_against_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_text(BIN + '[storage]\npath = "state/agent.db"\n')
    assert load_config(path).storage.path == tmp_path / "state" / "agent.db"


def test_password_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(BIN + '[broker]\npassword_env = "BIN_PW"\n')
    monkeypatch.delenv("BIN_PW", raising=False)
    with pytest.raises(LookupError, match="BIN_PW"):
        config.broker.password()
    monkeypatch.setenv("BIN_PW", "s3cret")
    assert config.broker.password() == "s3cret"
    assert "s3cret" not in config.model_dump_json()


def test_every_field_has_a_description_and_every_number_bounds() -> None:
    import annotated_types

    def numeric(annotation: object) -> bool:
        args = getattr(annotation, "__args__", ())
        return annotation in (int, float) or any(arg in (int, float) for arg in args)

    def walk(model: type[Section]) -> None:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
            annotation = field.annotation
            if numeric(annotation):
                kinds = {type(item) for item in field.metadata}
                assert kinds & {annotated_types.Ge, annotated_types.Gt}, (
                    f"{name} has no lower bound"
                )
                assert kinds & {annotated_types.Le, annotated_types.Lt}, (
                    f"{name} has no upper bound"
                )
            if isinstance(annotation, type) and issubclass(annotation, Section):
                walk(annotation)

    walk(DeviceConfig)


def test_validate_cli_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(BIN)
    bad = tmp_path / "bad.toml"
    bad.write_text(BIN + "[intervals]\ntelemetry_s = -5\n")
    runner = CliRunner()
    ok = runner.invoke(cli, ["config", "validate", str(good)])
    assert ok.exit_code == 0, ok.output
    failed = runner.invoke(cli, ["config", "validate", str(bad)])
    assert failed.exit_code == 1
    assert "intervals.telemetry_s (line 6)" in failed.output
    missing = runner.invoke(cli, ["config", "validate", str(tmp_path / "nope.toml")])
    assert missing.exit_code == 1
    assert "(file)" in missing.output


def test_min_valid_above_the_pings_is_rejected_naming_the_key() -> None:
    found = issues_of(BIN + "[ultrasonic]\npings = 3\nmin_valid = 5\n")
    assert list(found) == ["ultrasonic.min_valid"]
    assert "ultrasonic.pings = 3" in found["ultrasonic.min_valid"]
    ok = parse_config(BIN + "[ultrasonic]\npings = 5\nmin_valid = 5\n")
    assert ok.ultrasonic.min_valid == 5


def test_classifier_type_accepts_registered_backends_and_lists_them() -> None:
    text = BIN + '[classifier]\ntype = "tflite"\n'
    found = issues_of(text)
    assert found["classifier.type"] == (
        "classifier.type = 'tflite' is not a registered backend (registered: onnx)"
    )
    register_backend("tflite", lambda config: cast(DepositClassifier, None))
    try:
        assert parse_config(text).classifier.type == "tflite"
    finally:
        unregister_backend("tflite")
    assert "classifier.type" in issues_of(text)
    assert "did you mean 'onnx'" in issues_of(text.replace("tflite", "onxx"))["classifier.type"]


def test_a_file_must_name_its_hardware_backend() -> None:
    # Without it a real bin would silently run the device simulator and publish
    # invented fill levels; a configuration file has to say which hardware it drives.
    found = issues_of('[identity]\nbin_id = "bin-001"\n[hardware]\nflap = "servo"\n')
    assert list(found) == ["hardware.backend"]
    assert "'rpi' on a real bin" in found["hardware.backend"]
    assert "hardware.backend" in issues_of('[identity]\nbin_id = "bin-001"\n')
    assert parse_config(BIN).hardware.backend == "sim-device"
    assert load_config(PROFILES_DIR / "rpi4.toml").hardware.backend == "rpi"


def test_a_file_that_is_not_utf8_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BIN.encode() + "# température\n".encode("latin-1"))
    result = CliRunner().invoke(cli, ["config", "validate", str(path)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [
        f"{path}: (file) (line 5): not UTF-8 text: byte 0xe9 (invalid continuation byte)"
    ]


def test_camera_capture_timeout_keeps_the_decision_budget() -> None:
    assert parse_config(BIN + "[intake]\ncapture_timeout_s = 0.5\n").intake.capture_timeout_s == 0.5
    assert set(issues_of(BIN + "[intake]\ncapture_timeout_s = 2.0\n")) == {
        "intake.capture_timeout_s"
    }
