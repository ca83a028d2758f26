"""The register of issued certificates: a renewed certificate stays revocable, by name
or by serial; a PKI directory from before the register is adopted; ``pki list`` shows
what is revoked or replaced and when the revocation list expires."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from cloud_bridge.cli.main import cli
from cloud_bridge.security.pki import PkiError, init_ca, issue_bin, issue_client
from cloud_bridge.security.registry import INDEX_FILE, Registry, parse_serial
from cloud_bridge.security.revocation import crl_info, list_certificates, revoke

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def crl_serials(path: Path) -> set[int]:
    return {entry.serial_number for entry in x509.load_pem_x509_crl(path.read_bytes())}


def invoke(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    init_ca(directory, now=NOW)
    return directory


def test_revoking_a_renewed_bin_revokes_its_old_certificate_too(pki: Path) -> None:
    stolen = serial_of(issue_bin(pki, "bin-007", now=NOW).cert)
    renewed = serial_of(issue_bin(pki, "bin-007", force=True, now=NOW).cert)
    assert stolen != renewed
    done = revoke(pki, "bin-007", now=NOW)
    assert {entry.serial for entry in done.revoked} == {stolen, renewed}
    assert crl_serials(done.crl) == {stolen, renewed}


def test_one_certificate_is_revoked_by_its_serial(pki: Path) -> None:
    stolen = serial_of(issue_bin(pki, "bin-007", now=NOW).cert)
    renewed = serial_of(issue_bin(pki, "bin-007", force=True, now=NOW).cert)
    done = revoke(pki, serials=[parse_serial(f"{stolen:X}")], now=NOW)
    assert crl_serials(done.crl) == {stolen}
    # the renewed certificate is still the bin's, and valid
    (listed,) = [c for c in list_certificates(pki) if c.serial == f"{renewed:X}"]
    assert listed.current
    assert listed.revoked_at is None
    with pytest.raises(PkiError, match="not issued by the CA"):
        revoke(pki, serials=[12345])
    ca = serial_of(pki / "ca.crt")
    with pytest.raises(PkiError, match="the CA itself"):
        revoke(pki, serials=[ca])


def test_serials_are_read_as_pki_list_prints_them() -> None:
    assert parse_serial("1A2b") == 0x1A2B
    assert parse_serial("0x1a:2b") == 0x1A2B
    with pytest.raises(ValueError, match="not a hexadecimal number"):
        parse_serial("bin-007")


def test_a_directory_from_before_the_register_is_adopted(pki: Path) -> None:
    # The layout of an older release: certificates on disk, revocations in revoked.json
    # (only the current certificate's serial), no index.json.
    first = serial_of(issue_bin(pki, "bin-007", now=NOW).cert)
    gone = serial_of(issue_client(pki, "scheduler.north", now=NOW).cert)
    issue_client(pki, "scheduler.north", force=True, now=NOW)
    (pki / INDEX_FILE).unlink()
    legacy = [{"serial": str(gone), "name": "scheduler.north", "revoked_at": NOW.isoformat()}]
    (pki / "revoked.json").write_text(json.dumps(legacy), encoding="utf-8")

    # Renewing reads the register first, so the certificate it overwrites is recorded.
    renewed = serial_of(issue_bin(pki, "bin-007", force=True, now=NOW).cert)
    done = revoke(pki, "bin-007", now=NOW)
    assert crl_serials(done.crl) == {first, renewed, gone}
    names = {entry.name for entry in Registry.load(pki).entries()}
    assert names == {"Revloop private CA", "bin-007", "scheduler.north"}


def test_the_register_is_replaced_atomically(pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    issue_bin(pki, "bin-001", now=NOW)
    before = (pki / INDEX_FILE).read_text(encoding="utf-8")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        issue_bin(pki, "bin-002", now=NOW)
    monkeypatch.undo()
    assert (pki / INDEX_FILE).read_text(encoding="utf-8") == before
    assert sorted(p.name for p in pki.iterdir() if p.name.startswith(".")) == []
    assert not (pki / "bins" / "bin-002.crt").exists()  # recorded first, then written


def test_pki_list_shows_revocations_renewals_and_the_crl_expiry(pki: Path) -> None:
    old = serial_of(issue_bin(pki, "bin-007", now=NOW).cert)
    issue_bin(pki, "bin-007", force=True, now=NOW)
    issue_bin(pki, "bin-008", now=NOW)
    text = invoke("pki", "list", "--dir", str(pki))
    lines = text.splitlines()
    header = next(line for line in lines if "serial" in line)
    for column in ("kind", "name", "serial", "expires", "days", "status", "file"):
        assert column in header
    old_row = next(line for line in lines if f"{old:X}" in line)
    assert "replaced, still valid" in old_row
    assert "revocation list: none" in text

    revoked = invoke("pki", "revoke", "--serial", f"{old:X}", "--dir", str(pki))
    assert f"revoked bin-007 serial {old:X}" in revoked
    text = invoke("pki", "list", "--dir", str(pki))
    old_row = next(line for line in text.splitlines() if f"{old:X}" in line)
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    assert f"revoked {day}" in old_row
    crl = crl_info(pki)
    assert crl is not None
    assert crl.next_update is not None
    assert crl.next_update - datetime.now(UTC) > timedelta(days=89)
    assert f"names 1, expires {crl.next_update:%Y-%m-%d %H:%M} UTC" in text


def test_revoke_takes_a_name_or_serials(pki: Path) -> None:
    issue_bin(pki, "bin-007", now=NOW)
    runner = CliRunner()
    neither = runner.invoke(cli, ["pki", "revoke", "--dir", str(pki)])
    assert neither.exit_code == 2
    assert "give NAME or --serial" in neither.output
    bad = runner.invoke(cli, ["pki", "revoke", "--serial", "xyz", "--dir", str(pki)])
    assert bad.exit_code == 2
    assert "not a hexadecimal number" in bad.output
    unknown = runner.invoke(cli, ["pki", "revoke", "bin-404", "--dir", str(pki)])
    assert unknown.exit_code == 1
    assert "no certificate issued to 'bin-404'" in unknown.output
