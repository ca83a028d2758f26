"""Taking certificates back: revocation by name or serial, the signed revocation list,
and the listing of everything the CA issued.

Revocation works from the register of issued certificates
(:mod:`cloud_bridge.security.registry`), not from the files on disk: a bin renewed with
``issue-bin --force`` has a new file, and its old certificate (perhaps the stolen one)
is still valid until it expires unless its serial is on the list. Revoking a name
revokes every certificate ever issued to it; ``--serial`` picks one.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from cloud_bridge.security.pki import BACKDATE, PkiError, load_ca, registry_of
from cloud_bridge.security.registry import Entry, Kind

log = logging.getLogger(__name__)

CRL_DAYS = 90
"""Validity of a revocation list: re-sign it (``pki crl``) before it runs out, or the
broker refuses every client."""
CRL_FILE = "crl.pem"


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What ``pki list`` shows of one issued certificate."""

    path: Path
    """The file it was written to (a newer certificate may have replaced it)."""
    common_name: str
    not_after: datetime | None
    """``None`` for a revoked certificate known only by its serial (adopted)."""
    kind: Kind
    serial: str
    """Upper-case hex, as ``pki revoke --serial`` takes it."""
    revoked_at: datetime | None
    current: bool
    """Whether ``path`` still holds this certificate (not replaced by a renewal)."""

    @property
    def is_ca(self) -> bool:
        """Whether this is the CA's own certificate."""
        return self.kind == "ca"


@dataclass(frozen=True, slots=True)
class Revocation:
    """What ``revoke`` did: the certificates now revoked and the new revocation list."""

    revoked: list[Entry]
    crl: Path


@dataclass(frozen=True, slots=True)
class CrlInfo:
    """The revocation list on disk: how many it names and when the broker stops trusting it."""

    path: Path
    revoked: int
    next_update: datetime | None


def list_certificates(directory: Path) -> list[CertInfo]:
    """Every certificate the CA issued, revoked and replaced ones too, soonest expiry first."""
    registry = registry_of(directory)
    current: dict[str, int] = {}
    for entry in registry.entries():
        path = directory / entry.path
        if entry.path and path.is_file() and entry.path not in current:
            with contextlib.suppress(ValueError):
                on_disk = x509.load_pem_x509_certificate(path.read_bytes())
                current[entry.path] = on_disk.serial_number
    found = [
        CertInfo(
            path=directory / entry.path,
            common_name=entry.name,
            not_after=entry.not_after,
            kind=entry.kind,
            serial=entry.serial_hex,
            revoked_at=entry.revoked_at,
            current=current.get(entry.path) == entry.serial,
        )
        for entry in registry.entries()
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(found, key=lambda info: info.not_after or far)


def revoke(
    directory: Path,
    name: str | None = None,
    *,
    serials: Sequence[int] = (),
    now: datetime | None = None,
) -> Revocation:
    """Revoke every certificate ever issued to ``name`` (renewed ones too), or the given
    serial numbers, and write the new revocation list.

    Revoking twice changes nothing. The broker must be given the new ``crl.pem`` (and
    restarted) to refuse them.
    """
    if (name is None) == (not serials):
        raise PkiError("give a name or serial numbers to revoke, not both")
    registry = registry_of(directory)
    if name is not None:
        targets = registry.named(name)
        if not targets:
            raise PkiError(f"no certificate issued to {name!r} in {directory}")
    else:
        targets = []
        for serial in serials:
            entry = registry.get(serial)
            if entry is None:
                raise PkiError(f"serial {serial:X}: not issued by the CA in {directory}")
            if entry.kind == "ca":
                raise PkiError(f"serial {serial:X} is the CA itself: make a new CA instead")
            targets.append(entry)
    when = _now(now).replace(microsecond=0)
    revoked = [registry.mark_revoked(entry.serial, when) for entry in targets]
    registry.save()
    for entry in revoked:
        log.info("revoked %s (serial %s)", entry.name, entry.serial_hex)
    return Revocation(revoked, write_crl(directory, now=now))


def write_crl(directory: Path, *, days: int = CRL_DAYS, now: datetime | None = None) -> Path:
    """Sign the revocation list of every revoked certificate into ``crl.pem``."""
    ca_key, ca_cert = load_ca(directory)
    start = _now(now)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(start - BACKDATE)
        .next_update(start + timedelta(days=days))
    )
    for entry in registry_of(directory).revoked():
        assert entry.revoked_at is not None
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    path = directory / CRL_FILE
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)
    return path


def crl_info(directory: Path) -> CrlInfo | None:
    """The revocation list in ``directory``, or ``None`` when nothing was ever revoked."""
    path = directory / CRL_FILE
    if not path.exists():
        return None
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except ValueError as err:
        raise PkiError(f"{path}: not a PEM revocation list ({err})") from None
    return CrlInfo(path, len(crl), crl.next_update_utc)
