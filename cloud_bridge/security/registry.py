"""The register of every certificate the deployment's CA has issued (``index.json``).

A certificate on disk is only the newest one of its name: renewing a bin
(``issue-bin --force``) overwrites its file, but the old certificate (perhaps the one
that was stolen) stays valid until it expires unless its serial number is revoked. So
every issued certificate's serial is recorded here, like OpenSSL's ``index.txt``, before
its files are written, and revocation works from this register, by name (every
certificate ever issued to it) or by serial.

The file is JSON, rewritten atomically (a temporary file in the same directory, synced,
then renamed), so a crash leaves either the old register or the new one. A PKI
directory made before the register existed is adopted: the certificates found in their
usual places, and the serials in the older ``revoked.json``, are recorded the first time
the register is read.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from cloud_bridge.errors import BridgeError

INDEX_FILE = "index.json"
LEGACY_REVOKED_FILE = "revoked.json"
"""Where revocations were kept before the register (serials of current files only)."""

Kind = Literal["ca", "server", "bridge", "bin", "client"]


class RegistryError(BridgeError, ValueError):
    """The register cannot be read or a serial cannot be understood; the message says which."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One issued certificate: who it names, where it was written, when it is valid."""

    serial: int
    name: str
    """The certificate's common name (a bin id, a reader, ``revloop-bridge``, a host)."""
    kind: Kind
    path: str
    """The file it was written to, relative to the PKI directory (a newer one may have
    replaced it since)."""
    not_before: datetime | None
    not_after: datetime | None
    """``None`` only for a revocation adopted from ``revoked.json`` whose certificate is gone."""
    fingerprint: str = ""
    """SHA-256 of the certificate (DER), hex; empty when only the serial is known."""
    revoked_at: datetime | None = None

    @property
    def serial_hex(self) -> str:
        """The serial number as OpenSSL prints it (upper-case hex)."""
        return format_serial(self.serial)

    def as_json(self) -> dict[str, Any]:
        """The entry as stored in ``index.json``."""
        return {
            "serial": self.serial_hex,
            "name": self.name,
            "kind": self.kind,
            "path": self.path,
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "fingerprint": self.fingerprint,
            "revoked_at": _iso(self.revoked_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        """An entry read from ``index.json``."""
        return cls(
            serial=parse_serial(str(data["serial"])),
            name=str(data["name"]),
            kind=data["kind"],
            path=str(data["path"]),
            not_before=_parse(data.get("not_before")),
            not_after=_parse(data.get("not_after")),
            fingerprint=str(data.get("fingerprint") or ""),
            revoked_at=_parse(data.get("revoked_at")),
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def _parse(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def format_serial(serial: int) -> str:
    """A serial number in upper-case hex, as ``pki list`` and ``openssl x509 -serial`` show it."""
    return f"{serial:X}"


def parse_serial(text: str) -> int:
    """A serial number given in hex (as ``pki list`` shows it; ``0x`` and colons allowed)."""
    cleaned = text.strip().replace(":", "").lower().removeprefix("0x")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise RegistryError(f"serial {text!r} is not a hexadecimal number") from None
    if value <= 0:
        raise RegistryError(f"serial {text!r} is not a certificate serial number")
    return value


def entry_for(cert: x509.Certificate, kind: Kind, path: str) -> Entry:
    """The register's entry for a certificate written to ``path``."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return Entry(
        serial=cert.serial_number,
        name=str(names[0].value) if names else "",
        kind=kind,
        path=path,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
    )


def _usual_places(directory: Path) -> list[tuple[Kind, Path]]:
    """Where ``pki`` writes certificates, as (kind, file) for those that exist."""
    singles: list[tuple[Kind, str]] = [
        ("ca", "ca.crt"),
        ("server", "server.crt"),
        ("bridge", "bridge.crt"),
    ]
    folders: list[tuple[Kind, str]] = [("bin", "bins"), ("client", "clients")]
    found = [(kind, directory / name) for kind, name in singles if (directory / name).is_file()]
    for kind, folder in folders:
        found += [(kind, path) for path in sorted((directory / folder).glob("*.crt"))]
    return found


def _guess_kind(name: str) -> Kind:
    """The kind of a name whose certificate is gone (readers' names hold a dot)."""
    if name == "revloop-bridge":
        return "bridge"
    return "client" if "." in name else "bin"


class Registry:
    """The entries of ``index.json``, in the order they were recorded."""

    def __init__(self, directory: Path, entries: list[Entry]) -> None:
        self.directory = directory
        self._entries: dict[int, Entry] = {entry.serial: entry for entry in entries}

    @property
    def path(self) -> Path:
        """The register's file."""
        return self.directory / INDEX_FILE

    @classmethod
    def load(cls, directory: Path) -> Registry:
        """The register, with every certificate found on disk that it did not know yet.

        What it adopts (a directory from before the register, a file copied in by hand)
        is saved at once, so it is remembered even after the file is replaced.
        """
        registry = cls(directory, cls._read(directory / INDEX_FILE))
        if registry.adopt():
            registry.save()
        return registry

    @staticmethod
    def _read(path: Path) -> list[Entry]:
        if not path.exists():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return [Entry.from_json(item) for item in data["certificates"]]
        except (ValueError, KeyError, TypeError) as err:
            raise RegistryError(f"{path}: not a certificate register ({err})") from None

    def adopt(self) -> bool:
        """Record the certificates on disk and the legacy revocations; True if any was new."""
        changed = False
        for kind, path in _usual_places(self.directory):
            try:
                cert = x509.load_pem_x509_certificate(path.read_bytes())
            except ValueError as err:
                raise RegistryError(f"{path}: not a PEM certificate ({err})") from None
            if cert.serial_number not in self._entries:
                relative = path.relative_to(self.directory).as_posix()
                self._entries[cert.serial_number] = entry_for(cert, kind, relative)
                changed = True
        return self._adopt_legacy_revocations() or changed

    def _adopt_legacy_revocations(self) -> bool:
        path = self.directory / LEGACY_REVOKED_FILE
        if not path.exists():
            return False
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
            legacy = [(int(i["serial"]), str(i["name"]), i["revoked_at"]) for i in items]
        except (ValueError, KeyError, TypeError) as err:
            raise RegistryError(f"{path}: not a revocation record ({err})") from None
        changed = False
        for serial, name, revoked_at in legacy:
            entry = self._entries.get(serial)
            when = datetime.fromisoformat(str(revoked_at))
            if entry is None:
                # Revoked, then renewed: the revoked certificate's file is gone.
                entry = Entry(serial, name, _guess_kind(name), "", None, None, revoked_at=when)
            elif entry.revoked_at is None:
                entry = replace(entry, revoked_at=when)
            else:
                continue
            self._entries[serial] = entry
            changed = True
        return changed

    def entries(self) -> list[Entry]:
        """Every recorded certificate."""
        return list(self._entries.values())

    def get(self, serial: int) -> Entry | None:
        """The entry of ``serial``, if this CA issued it."""
        return self._entries.get(serial)

    def named(self, name: str) -> list[Entry]:
        """Every certificate ever issued to ``name`` (the CA's own excepted)."""
        return [e for e in self._entries.values() if e.name == name and e.kind != "ca"]

    def revoked(self) -> list[Entry]:
        """The revoked certificates, in the order they were recorded."""
        return [entry for entry in self._entries.values() if entry.revoked_at is not None]

    def record(self, entry: Entry) -> None:
        """Add a newly issued certificate (call :meth:`save` to keep it)."""
        self._entries[entry.serial] = entry

    def mark_revoked(self, serial: int, when: datetime) -> Entry:
        """Mark ``serial`` revoked at ``when`` (an earlier revocation stands)."""
        entry = self._entries[serial]
        if entry.revoked_at is None:
            entry = replace(entry, revoked_at=when)
            self._entries[serial] = entry
        return entry

    def save(self) -> None:
        """Write ``index.json`` atomically (temporary file, fsync, rename)."""
        text = json.dumps(
            {"version": 1, "certificates": [e.as_json() for e in self._entries.values()]},
            indent=2,
        )
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".index-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o644)
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        _sync_directory(self.directory)


def _sync_directory(directory: Path) -> None:
    """Make the rename durable (where the platform lets a directory be synced)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
