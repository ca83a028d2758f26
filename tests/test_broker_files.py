"""``bin-bridge broker-config`` writes files Mosquitto can start with: a broker started
as root drops to its own user before it reads its key and ACL, so the command gives them
that user's group and modes that let it read them, warns when a directory in the way
does not, and writes install.sh for the broker host; the configuration, used as written,
starts a real Mosquitto that TLS clients reach."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloud_bridge.cli.main import cli
from tests.support.mosquitto import Mosquitto, free_port, mosquitto_binary
from tests.support.tls import Identity, TlsClient, broker_home, broker_user, make_pki


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def broker_config(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, ["broker-config", *args])
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A directory the broker's user may enter (as /etc/mosquitto is)."""
    path = broker_home(tmp_path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_bundle_is_readable_by_the_broker_and_starts_it(tmp_path: Path, home: Path) -> None:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (see README)")
    pki = make_pki(tmp_path)
    port = free_port()
    user = broker_user()
    conf = home / "revloop.conf"
    out, err = broker_config(
        "--dir", str(pki), "--port", str(port), "--bind", "127.0.0.1",
        "--certs-dir", str(home / "certs"), "--acl-path", str(home / "revloop.acl"),
        "--broker-user", user, "--out", str(conf),
    )  # fmt: skip
    assert err == ""  # nothing the broker could not read
    assert "install.sh" in out
    certs = home / "certs"
    # The broker's user reads them through its group; nobody else reads the key.
    group = pwd.getpwnam(user).pw_gid
    assert (mode(certs), certs.stat().st_gid) == (0o750, group)
    for name, expected in (("ca.crt", 0o644), ("server.crt", 0o644), ("server.key", 0o640)):
        assert mode(certs / name) == expected, name
        assert (certs / name).stat().st_gid == group, name
        assert (certs / name).read_bytes() == (pki / name).read_bytes()
    assert not (certs / "ca.key").exists()  # the CA's key never goes to the broker
    assert (mode(home / "revloop.acl"), (home / "revloop.acl").stat().st_gid) == (0o640, group)
    lines = conf.read_text(encoding="utf-8").splitlines()
    for needed in (
        f"listener {port} 127.0.0.1",
        f"cafile {certs / 'ca.crt'}",
        f"certfile {certs / 'server.crt'}",
        f"keyfile {certs / 'server.key'}",
        f"acl_file {home / 'revloop.acl'}",
        "require_certificate true",
        "allow_anonymous false",
    ):
        assert needed in lines
    # As written, untouched: as root Mosquitto drops to `mosquitto` and reads them.
    with Mosquitto(tmp_path, port=port, config_text="\n".join(lines) + "\n") as broker:
        bins = pki / "bins"
        identity = Identity(pki / "ca.crt", bins / "bin-001.crt", bins / "bin-001.key")
        with TlsClient(broker.port, identity, client_id="bin-001") as client:
            assert client.connect()


def test_a_directory_the_broker_cannot_enter_is_named(tmp_path: Path) -> None:
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user 'nobody' here")
    pki = make_pki(tmp_path)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    _, err = broker_config(
        "--dir", str(pki), "--out", str(private / "revloop.conf"),
        "--certs-dir", str(private / "certs"), "--acl-path", str(private / "revloop.acl"),
        "--broker-user", "nobody",
    )  # fmt: skip
    assert f"warning: {private / 'certs' / 'server.key'} is not readable by user nobody" in err
    assert "the broker could not start" in err


def test_install_sh_installs_with_the_owners_and_modes_the_broker_needs(
    tmp_path: Path, home: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("install -o root needs root")
    user = broker_user()
    group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    pki = make_pki(tmp_path)
    CliRunner().invoke(cli, ["pki", "revoke", "bin-002", "--dir", str(pki)])
    etc = home / "etc"
    bundle = tmp_path / "build"
    broker_config(
        "--dir", str(pki), "--out", str(bundle / "revloop.conf"), "--broker-user", user,
        "--certs-dir", str(etc / "certs"), "--acl-path", str(etc / "revloop.acl"),
        "--conf-path", str(etc / "conf.d" / "revloop.conf"),
    )  # fmt: skip
    script = bundle / "install.sh"
    assert mode(script) == 0o755
    subprocess.run(["sh", str(script)], check=True, capture_output=True, timeout=30)
    gid = grp.getgrnam(group).gr_gid
    expected = {
        etc / "certs": 0o750,
        etc / "certs" / "ca.crt": 0o644,
        etc / "certs" / "server.crt": 0o644,
        etc / "certs" / "crl.pem": 0o644,
        etc / "certs" / "server.key": 0o640,
        etc / "revloop.acl": 0o640,
    }
    for path, wanted in expected.items():
        info = path.stat()
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (wanted, 0, gid), path
    installed = etc / "conf.d" / "revloop.conf"
    assert installed.read_bytes() == (bundle / "revloop.conf").read_bytes()
    assert f"crlfile {etc / 'certs' / 'crl.pem'}" in installed.read_text(encoding="utf-8")
