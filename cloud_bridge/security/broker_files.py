"""The broker's files as one directory, ready to install, that Mosquitto can read.

A broker started as root (its systemd service) drops to its own user before it reads
the ACL and the TLS files, so they must be readable by that user, and nothing else
needs them: ``bin-bridge broker-config`` puts the configuration, the ACL and copies of
``ca.crt``, ``server.crt``, ``server.key`` (and ``crl.pem``) into one directory (the
*bundle*, never the CA's key) with the modes the broker needs: the key and the ACL
``0640`` and the certificates ``0644`` in a ``0750`` directory, all of the broker
user's group (``mosquitto``) where this machine has that user and lets us give them to
its group. Beside them, ``install.sh`` installs them on the broker host with owner,
group and modes spelled out, for the usual case: the bundle is made on the operator's
machine (which holds the CA) and copied to the broker.

Where the broker's files already exist on this machine (the bundle used in place, or
files installed earlier), each is checked: a warning names every one the broker's user
could not read, and the directory that stops it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shlex
import shutil
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cloud_bridge.security.broker_config import BrokerLayout, write_broker_config

BROKER_USER = "mosquitto"
"""The user Debian's Mosquitto runs as (and the name of its group)."""
CONF_TARGET = Path("/etc/mosquitto/conf.d/revloop.conf")
"""Where Debian's Mosquitto reads a drop-in configuration."""
CERT_MODE = 0o644
KEY_MODE = 0o640
DIR_MODE = 0o750


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """The user the broker runs as, as this machine knows it (if it does)."""

    name: str
    uid: int | None
    gid: int | None
    group: str
    groups: frozenset[int]

    @classmethod
    def lookup(cls, name: str) -> BrokerUser:
        """``name``'s ids and groups; unknown here (the operator's machine), only its name."""
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return cls(name, None, None, name, frozenset())
        try:
            group = grp.getgrgid(entry.pw_gid).gr_name
        except KeyError:
            group = str(entry.pw_gid)
        groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if name in g.gr_mem}
        return cls(name, entry.pw_uid, entry.pw_gid, group, frozenset(groups))

    def can(self, path: Path, bit: int) -> bool:
        """Whether this user has permission ``bit`` (4 read, 1 search) on ``path``."""
        if self.uid == 0:
            return True
        info = path.stat()
        if info.st_uid == self.uid:
            shift = 6
        elif info.st_gid in self.groups:
            shift = 3
        else:
            shift = 0
        return bool(stat.S_IMODE(info.st_mode) >> shift & bit)


@dataclass(frozen=True, slots=True)
class BrokerBundle:
    """What ``broker-config`` wrote, and what the broker's user could not read."""

    directory: Path
    conf: Path
    acl: Path
    certs: Path
    install_script: Path
    grouped: bool
    """Whether the files were given to the broker user's group here."""
    warnings: list[str]


def unreadable(path: Path, user: BrokerUser) -> str | None:
    """Why ``user`` cannot read ``path`` (the file or the directory in the way), or None."""
    for parent in reversed(path.absolute().parents):
        if not user.can(parent, 1):
            mode = stat.S_IMODE(parent.stat().st_mode)
            return f"{path} is not readable by user {user.name}: {parent} is mode {mode:04o}"
    if not user.can(path, 4):
        info = path.stat()
        mode = stat.S_IMODE(info.st_mode)
        return (
            f"{path} is not readable by user {user.name} (mode {mode:04o}, "
            f"owner {info.st_uid}:{info.st_gid})"
        )
    return None


def _place(source: Path, target: Path, mode: int, gid: int | None) -> bool:
    """Copy with ``mode`` (never wider meanwhile); give it to group ``gid`` if allowed."""
    target.unlink(missing_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle, source.open("rb") as original:
        shutil.copyfileobj(original, handle)
    return _settle(target, mode, gid)


def _settle(path: Path, mode: int, gid: int | None) -> bool:
    grouped = False
    if gid is not None:
        with contextlib.suppress(PermissionError):
            os.chown(path, -1, gid)
            grouped = True
    os.chmod(path, mode)
    return grouped


def write_bundle(
    pki_dir: Path,
    conf_path: Path,
    layout: BrokerLayout,
    *,
    readers: tuple[str, ...] = (),
    user: BrokerUser | None = None,
    conf_target: Path = CONF_TARGET,
    generated_at: datetime | None = None,
) -> BrokerBundle:
    """Write the configuration, ACL, TLS files and ``install.sh`` beside ``conf_path``.

    ``layout`` names where the broker will read them (``certs_dir``, ``acl_file``),
    ``conf_target`` where the configuration goes; ``install.sh`` puts them there.
    """
    user = user or BrokerUser.lookup(BROKER_USER)
    bundle = conf_path.parent
    acl_path = conf_path.with_suffix(".acl")
    write_broker_config(layout, conf_path, acl_path, pki_dir=pki_dir, readers=readers)
    certs = bundle / "certs"
    certs.mkdir(parents=True, exist_ok=True)
    names = ["ca.crt", "server.crt", "server.key", *(["crl.pem"] if layout.crl else [])]
    grouped = _settle(certs, DIR_MODE, user.gid)
    for name in names:
        mode = KEY_MODE if name.endswith(".key") else CERT_MODE
        grouped = _place(pki_dir / name, certs / name, mode, user.gid) and grouped
    grouped = _settle(acl_path, KEY_MODE, user.gid) and grouped
    os.chmod(conf_path, CERT_MODE)
    script = bundle / "install.sh"
    script.write_text(
        install_script(layout, conf_path, acl_path, names, user.group, conf_target, generated_at),
        encoding="utf-8",
    )
    os.chmod(script, 0o755)
    needed = [layout.certs_dir / name for name in names] + [layout.acl_file]
    warnings = []
    if user.uid is not None:
        for path in needed:
            if path.exists():
                problem = unreadable(path, user)
                if problem is not None:
                    warnings.append(problem)
    return BrokerBundle(bundle, conf_path, acl_path, certs, script, grouped, warnings)


def install_script(
    layout: BrokerLayout,
    conf: Path,
    acl: Path,
    names: list[str],
    group: str,
    conf_target: Path,
    generated_at: datetime | None = None,
) -> str:
    """The shell script that installs the bundle (``conf`` and what is beside it) on the
    broker host, as root.

    Files the configuration names where the bundle already has them (the bundle used in
    place) are left alone.
    """
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d")
    q = shlex.quote
    certs = q(str(layout.certs_dir))
    public = " ".join(f'"$here"/certs/{name}' for name in names if not name.endswith(".key"))
    lines = [
        "#!/bin/sh",
        f"# Installs the Revloop broker's files (bin-bridge broker-config, {when}).",
        "# Run as root on the broker host: sh install.sh; then restart Mosquitto.",
        "# The broker drops to its own user before it reads these: group "
        f"{group}, key and ACL 0640.",
        "set -eu",
        'here=$(cd "$(dirname "$0")" && pwd)',
    ]
    if layout.certs_dir != conf.parent.absolute() / "certs":
        lines += [
            f"install -d -o root -g {q(group)} -m 0750 {certs}",
            f"install -o root -g {q(group)} -m 0644 {public} {certs}/",
            f'install -o root -g {q(group)} -m 0640 "$here"/certs/server.key {certs}/',
        ]
    if layout.acl_file != acl.absolute():
        lines.append(
            f'install -D -o root -g {q(group)} -m 0640 "$here"/{q(acl.name)} '
            f"{q(str(layout.acl_file))}"
        )
    lines += [
        f'install -D -o root -g root -m 0644 "$here"/{q(conf.name)} {q(str(conf_target))}',
        'echo "installed; now: systemctl restart mosquitto && journalctl -u mosquitto -n 20"',
    ]
    return "\n".join(lines) + "\n"
