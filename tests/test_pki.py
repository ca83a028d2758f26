"""The deployment's CA and certificates, and the generated broker configuration."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud_bridge.cli.main import cli
from cloud_bridge.security.broker_config import BrokerLayout, acl_text, mosquitto_conf
from cloud_bridge.security.pki import (
    BRIDGE_CN,
    PkiError,
    init_ca,
    issue_bin,
    issue_bridge,
    issue_client,
    issue_server,
)
from cloud_bridge.security.revocation import list_certificates, revoke

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def common_name(cert: x509.Certificate) -> str:
    return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    init_ca(directory, now=NOW)
    return directory


def test_ca_is_a_ca_and_its_key_is_private(pki: Path) -> None:
    cert = load(pki / "ca.crt")
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert mode(pki / "ca.key") == 0o600
    assert mode(pki) == 0o700
    assert cert.not_valid_before_utc == NOW - timedelta(hours=1)
    with pytest.raises(PkiError, match="already holds a CA"):
        init_ca(pki)


def test_bin_certificate_names_the_bin(pki: Path) -> None:
    issued = issue_bin(pki, "bin-042", now=NOW)
    cert = load(issued.cert)
    assert common_name(cert) == "bin-042"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.issuer == load(pki / "ca.crt").subject
    assert mode(issued.key) == 0o600
    assert issued.cert == pki / "bins" / "bin-042.crt"
    cert.verify_directly_issued_by(load(pki / "ca.crt"))


def test_existing_identities_are_kept_unless_forced(pki: Path) -> None:
    first = issue_bin(pki, "bin-042", now=NOW)
    before = first.cert.read_bytes()
    with pytest.raises(PkiError, match="pass --force"):
        issue_bin(pki, "bin-042")
    assert first.cert.read_bytes() == before
    again = issue_bin(pki, "bin-042", force=True)
    assert again.cert.read_bytes() != before
    assert mode(again.key) == 0o600


@pytest.mark.parametrize("name", ["Bin-1", "b", "bin_1", "bin-1/x", BRIDGE_CN])
def test_bin_ids_are_checked(pki: Path, name: str) -> None:
    with pytest.raises(PkiError):
        issue_bin(pki, name)


def test_server_certificate_covers_every_host(pki: Path) -> None:
    issued = issue_server(pki, ["mqtt.example.net", "10.0.0.5", "::1"], now=NOW)
    cert = load(issued.cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mqtt.example.net"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5", "::1"]
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    with pytest.raises(PkiError, match="neither a DNS name"):
        issue_server(pki, ["bad host"], force=True)


def test_leaf_never_outlives_the_ca(tmp_path: Path) -> None:
    directory = tmp_path / "short"
    ca = init_ca(directory, days=30, now=NOW)
    issued = issue_bridge(directory, days=825, now=NOW)
    assert issued.not_after == ca.not_after
    assert common_name(load(issued.cert)) == BRIDGE_CN


def test_reader_names_cannot_be_bin_ids(pki: Path) -> None:
    issued = issue_client(pki, "scheduler.north", now=NOW)
    assert issued.cert == pki / "clients" / "scheduler.north.crt"
    with pytest.raises(PkiError, match="at least one dot"):
        issue_client(pki, "scheduler-north")


def test_without_a_ca_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="pki init"):
        issue_bin(tmp_path, "bin-001")


def test_list_shows_soonest_expiry_first(pki: Path) -> None:
    issue_bin(pki, "bin-001", days=10, now=NOW)
    issue_bridge(pki, days=100, now=NOW)
    listed = list_certificates(pki)
    assert [info.common_name for info in listed] == ["bin-001", BRIDGE_CN, "Revloop private CA"]
    assert listed[-1].is_ca


def test_acl_uses_the_certificate_identity_not_the_client_id() -> None:
    text = acl_text(readers=("scheduler.north",))
    rules = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert "%c" not in "\n".join(rules)
    assert rules[:9] == [
        "pattern write bins/v1/%u/state",
        "pattern write bins/v1/%u/telemetry",
        "pattern write bins/v1/%u/events/+",
        "pattern write bins/v1/%u/health",
        "pattern write bins/v1/%u/config/reported",
        "pattern write bins/v1/%u/cmd/result",
        "pattern read bins/v1/%u/config/desired",
        "pattern read bins/v1/%u/cmd",
        "pattern read bins/v1/%u/ack",
    ]
    assert "user revloop-bridge" in rules
    assert "topic write bins/v1/+/ack" in rules
    assert rules[-2:] == ["user scheduler.north", "topic read fleet/v1/#"]
    with pytest.raises(PkiError, match="must contain a dot"):
        acl_text(readers=("bin-001",))


def test_mosquitto_conf_requires_certificates() -> None:
    layout = BrokerLayout(port=8883, certs_dir=Path("/etc/mosquitto/certs"))
    lines = mosquitto_conf(layout).splitlines()
    for required in (
        "allow_anonymous false",
        "listener 8883 0.0.0.0",
        "cafile /etc/mosquitto/certs/ca.crt",
        "certfile /etc/mosquitto/certs/server.crt",
        "keyfile /etc/mosquitto/certs/server.key",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        "acl_file /etc/mosquitto/revloop.acl",
        "max_queued_messages 100000",
        f"max_queued_bytes {64 * 1024 * 1024}",
        "autosave_interval 30",
    ):
        assert required in lines
    # listener options apply only after the listener line (before it, Mosquitto opens
    # a default listener on 1883)
    assert lines.index("use_username_as_clientid true") > lines.index("listener 8883 0.0.0.0")
    with pytest.raises(PkiError, match="max_queued_bytes"):
        BrokerLayout(max_queued_bytes=0)
    with pytest.raises(PkiError, match="autosave_interval_s"):
        BrokerLayout(autosave_interval_s=0)
    assert "autosave_interval 10" in mosquitto_conf(BrokerLayout(autosave_interval_s=10))
    assert not any(line.startswith("persistence") for line in lines)
    with_persistence = mosquitto_conf(BrokerLayout(persistence_dir=Path("/var/lib/mosquitto")))
    assert "persistence_location /var/lib/mosquitto/" in with_persistence


def test_broker_config_refuses_a_pki_without_a_server_certificate(pki: Path) -> None:
    result = CliRunner().invoke(cli, ["broker-config", "--dir", str(pki)])
    assert result.exit_code == 1
    assert "server.crt is missing; run `bin-bridge pki issue-server` first" in result.output


def test_cli_errors_are_one_line(pki: Path) -> None:
    result = CliRunner().invoke(cli, ["pki", "issue-bin", "NOT OK", "--dir", str(pki)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "bin-bridge: bin id 'NOT OK' does not match ^[a-z0-9][a-z0-9-]{2,62}$"
    ]


def test_revocation_list_names_the_revoked_certificate(pki: Path) -> None:
    issued = issue_bin(pki, "bin-042", now=NOW)
    issue_client(pki, "scheduler.north", now=NOW)
    path = revoke(pki, "bin-042", now=NOW).crl
    revoke(pki, "bin-042", now=NOW)  # twice is once
    revoke(pki, "scheduler.north", now=NOW)
    crl = x509.load_pem_x509_crl(path.read_bytes())
    assert crl.is_signature_valid(load(pki / "ca.crt").public_key())  # type: ignore[arg-type]
    serials = [entry.serial_number for entry in crl]
    assert load(issued.cert).serial_number in serials
    assert len(serials) == 2
    assert crl.next_update_utc == NOW + timedelta(days=90)
    with pytest.raises(PkiError, match="no certificate issued to 'bin-404'"):
        revoke(pki, "bin-404")


def test_broker_config_checks_the_revocation_list(pki: Path, tmp_path: Path) -> None:
    issue_server(pki, ["127.0.0.1"], now=NOW)
    issue_bin(pki, "bin-042", now=NOW)
    out = tmp_path / "out" / "revloop.conf"
    result = CliRunner().invoke(cli, ["broker-config", "--dir", str(pki), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "crlfile" not in out.read_text(encoding="utf-8")
    assert not (tmp_path / "out" / "certs" / "crl.pem").exists()
    CliRunner().invoke(cli, ["pki", "revoke", "bin-042", "--dir", str(pki)])
    result = CliRunner().invoke(cli, ["broker-config", "--dir", str(pki), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "crlfile /etc/mosquitto/certs/crl.pem" in out.read_text(encoding="utf-8").splitlines()
    assert (tmp_path / "out" / "revloop.acl").is_file()
    crl = tmp_path / "out" / "certs" / "crl.pem"
    assert crl.read_bytes() == (pki / "crl.pem").read_bytes()
    assert "certs/crl.pem" in (tmp_path / "out" / "install.sh").read_text(encoding="utf-8")
