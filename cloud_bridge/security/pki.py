"""A private certificate authority for one Revloop deployment.

The broker trusts only certificates this CA signed, and the bins and the bridge trust
only a broker whose certificate it signed. It issues:

- the broker's server certificate, with every host name and address the clients use
  in its subjectAltName;
- one client certificate per bin, whose common name is the ``bin_id`` (Mosquitto's
  ``use_identity_as_username`` makes it the user name the ACL checks);
- the bridge's client certificate, CN ``revloop-bridge``;
- client certificates for other readers (schedulers' systems), whose names can never
  be mistaken for a bin id.

Keys are ECDSA P-256 (small, fast on a Pi, supported by every broker); private keys are
written with mode 0600 and never overwritten unless asked. Certificates are backdated by
an hour so a client whose clock lags a little still accepts a fresh one.

Layout of the directory: ``ca.key ca.crt server.key server.crt bridge.key bridge.crt
bins/<bin_id>.key bins/<bin_id>.crt clients/<name>.key clients/<name>.crt``, the register
of every certificate issued (``index.json``, :mod:`cloud_bridge.security.registry`) and
the revocation list (``crl.pem``).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloud_bridge.errors import BridgeError
from cloud_bridge.security.registry import Kind, Registry, RegistryError, entry_for

log = logging.getLogger(__name__)

BRIDGE_CN = "revloop-bridge"
"""The bridge's identity (certificate CN, hence its MQTT user name)."""
BIN_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
CLIENT_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.[a-z0-9.-]+$")
"""Other clients' names contain a dot, so they never match a bin id (or its topics)."""
BACKDATE = timedelta(hours=1)
CA_DAYS = 3650
LEAF_DAYS = 825


class PkiError(BridgeError, ValueError):
    """A certificate could not be issued; the message names the file or the name."""


def registry_of(directory: Path) -> Registry:
    """The register of issued certificates (adopting what is on disk), or a PkiError."""
    try:
        return Registry.load(directory)
    except RegistryError as err:
        raise PkiError(str(err)) from None


@dataclass(frozen=True, slots=True)
class Issued:
    """The files of one issued identity."""

    common_name: str
    key: Path
    cert: Path
    not_after: datetime


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_private(path: Path, key: ec.EllipticCurvePrivateKey, *, force: bool) -> None:
    """Write a PEM private key readable by its owner only (never briefly wider)."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise PkiError(f"{path} exists; pass --force to replace it") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Revloop"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def ca_paths(directory: Path) -> tuple[Path, Path]:
    """The CA's key and certificate files in ``directory``."""
    return directory / "ca.key", directory / "ca.crt"


def init_ca(
    directory: Path,
    *,
    name: str = "Revloop private CA",
    days: int = CA_DAYS,
    now: datetime | None = None,
) -> Issued:
    """Create the CA key and self-signed certificate; refuse if a CA is already there."""
    key_path, cert_path = ca_paths(directory)
    if key_path.exists() or cert_path.exists():
        raise PkiError(f"{directory} already holds a CA ({key_path.name}, {cert_path.name})")
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    key = _new_key()
    start = _now(now)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    registry = registry_of(directory)
    registry.record(entry_for(cert, "ca", cert_path.name))
    registry.save()
    _write_private(key_path, key, force=False)
    _write_cert(cert_path, cert)
    log.info("CA created in %s", directory)
    return Issued(name, key_path, cert_path, cert.not_valid_after_utc)


def load_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The CA's key and certificate; PkiError naming the missing or unreadable file."""
    key_path, cert_path = ca_paths(directory)
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except FileNotFoundError as err:
        raise PkiError(f"{err.filename}: no CA here; run `bin-bridge pki init` first") from None
    except (OSError, ValueError) as err:
        raise PkiError(f"cannot read the CA in {directory}: {err}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError(f"{key_path}: not an EC key")
    return key, cert


def _issue(
    directory: Path,
    common_name: str,
    stem: Path,
    *,
    kind: Kind,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName],
    days: int,
    force: bool,
    now: datetime | None,
) -> Issued:
    ca_key, ca_cert = load_ca(directory)
    key_path, cert_path = stem.parent / f"{stem.name}.key", stem.parent / f"{stem.name}.crt"
    if not force and (key_path.exists() or cert_path.exists()):
        raise PkiError(f"{cert_path} exists; pass --force to replace it")
    # Read (and so adopt) what is on disk before it is replaced: the certificate a
    # renewal overwrites stays revocable by its serial.
    registry = registry_of(directory)
    start = _now(now)
    end = min(start + timedelta(days=days), ca_cert.not_valid_after_utc)
    key = _new_key()
    public = key.public_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - BACKDATE)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    # Recorded before its files exist: no certificate can be out there unregistered.
    registry.record(entry_for(cert, kind, cert_path.relative_to(directory).as_posix()))
    registry.save()
    _write_private(key_path, key, force=force)
    _write_cert(cert_path, cert)
    log.info("issued %s for %s (until %s)", cert_path, common_name, cert.not_valid_after_utc)
    return Issued(common_name, key_path, cert_path, cert.not_valid_after_utc)


def issue_server(
    directory: Path,
    hosts: list[str],
    *,
    days: int = LEAF_DAYS,
    force: bool = False,
    now: datetime | None = None,
) -> Issued:
    """The broker's certificate, valid for every name and IP address in ``hosts``."""
    if not hosts:
        raise PkiError("give at least one --host the clients use to reach the broker")
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?", host):
                raise PkiError(f"--host {host!r} is neither a DNS name nor an IP address") from None
            sans.append(x509.DNSName(host))
    return _issue(
        directory,
        hosts[0],
        directory / "server",
        kind="server",
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=sans,
        days=days,
        force=force,
        now=now,
    )


def issue_bin(
    directory: Path,
    bin_id: str,
    *,
    days: int = LEAF_DAYS,
    force: bool = False,
    now: datetime | None = None,
) -> Issued:
    """A bin's client certificate, CN = ``bin_id``."""
    if not BIN_ID_PATTERN.fullmatch(bin_id):
        raise PkiError(f"bin id {bin_id!r} does not match ^[a-z0-9][a-z0-9-]{{2,62}}$")
    if bin_id == BRIDGE_CN:
        raise PkiError(f"{BRIDGE_CN!r} is the bridge's identity, not a bin id")
    return _issue(
        directory,
        bin_id,
        directory / "bins" / bin_id,
        kind="bin",
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        sans=[],
        days=days,
        force=force,
        now=now,
    )


def issue_bridge(
    directory: Path, *, days: int = LEAF_DAYS, force: bool = False, now: datetime | None = None
) -> Issued:
    """The bridge's client certificate, CN = ``revloop-bridge``."""
    return _issue(
        directory,
        BRIDGE_CN,
        directory / "bridge",
        kind="bridge",
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        sans=[],
        days=days,
        force=force,
        now=now,
    )


def issue_client(
    directory: Path,
    name: str,
    *,
    days: int = LEAF_DAYS,
    force: bool = False,
    now: datetime | None = None,
) -> Issued:
    """A client certificate for another reader (a scheduler's system, a dashboard).

    Its name must contain a dot (``scheduler.north``) so it can never be a bin id: the
    bins' ACL patterns substitute the user name into topics.
    """
    if not CLIENT_NAME_PATTERN.fullmatch(name) or len(name) > 64:
        raise PkiError(
            f"client name {name!r} must be lower case letters, digits, '-' and '.', "
            "with at least one dot (e.g. scheduler.north), so it is never a bin id"
        )
    return _issue(
        directory,
        name,
        directory / "clients" / name,
        kind="client",
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        sans=[],
        days=days,
        force=force,
        now=now,
    )
