"""A bin whose messages the broker denies must not lose them, nor look healthy.

A bin configured as one id with another bin's certificate connects, and the broker's
ACL (keyed on the certificate's name) denies every publish; MQTT 3.1.1 cannot say so
and the broker acknowledges each one. The agent now refuses such a certificate at
start and ``bin-agent config validate`` fails on it; and whatever else makes a broker
drop a bin's messages (an ACL mistake), the bin keeps them until the bridge confirms.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.cli.main import cli
from agent.link.identity import CertificateMismatch, certificate_name
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.engine.bridge import Bridge
from tests.support.bins import bin_config, make_bin
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client
from tests.support.tls import make_pki
from tests.support.waiting import eventually

TIMEOUT = 20.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA with certificates for bin-001 and bin-002 (tests/support/tls.py)."""
    return make_pki(tmp_path_factory.mktemp("identity"))


def config_file(directory: Path, pki: Path, bin_id: str, cert_of: str) -> Path:
    """A bin's configuration naming ``bin_id``, with the certificate issued to ``cert_of``."""
    path = directory / f"{bin_id}-with-{cert_of}.toml"
    path.write_text(
        f"""
[identity]
bin_id = "{bin_id}"
[hardware]
backend = "sim-device"
[broker]
host = "127.0.0.1"
port = 1
[broker.tls]
enabled = true
ca_file = "{pki / "ca.crt"}"
cert_file = "{pki / "bins" / f"{cert_of}.crt"}"
key_file = "{pki / "bins" / f"{cert_of}.key"}"
[storage]
path = "{directory / f"{bin_id}.db"}"
""",
        encoding="utf-8",
    )
    return path


def tls_section(pki: Path, cert_of: str) -> str:
    bins = pki / "bins"
    return (
        f'enabled = true\nca_file = "{pki / "ca.crt"}"\n'
        f'cert_file = "{bins / f"{cert_of}.crt"}"\nkey_file = "{bins / f"{cert_of}.key"}"'
    )


def test_the_certificates_name_is_read_without_the_bridge(pki: Path) -> None:
    assert certificate_name(pki / "bins" / "bin-001.crt") == "bin-001"
    assert certificate_name(pki / "bridge.crt") == "revloop-bridge"


def test_a_certificate_naming_another_bin_is_refused_at_start(tmp_path: Path, pki: Path) -> None:
    wrong = config_file(tmp_path, pki, "bin-002", cert_of="bin-001")
    expected = "broker.tls.cert_file: certificate is for 'bin-001', not this bin 'bin-002'"
    config = bin_config(tmp_path, "bin-002", **{"broker.tls": tls_section(pki, "bin-001")})
    with pytest.raises(CertificateMismatch) as refused:
        make_bin(config, port=1)
    assert str(refused.value).startswith(expected)
    assert not config.storage.path.exists()  # refused before anything was opened
    result = CliRunner().invoke(cli, ["run", "--config", str(wrong)])
    assert result.exit_code == 1
    assert f"error: {expected}" in result.output
    # Its own certificate is accepted (the agent builds; nothing connects here).
    config = bin_config(tmp_path, "bin-002", **{"broker.tls": tls_section(pki, "bin-002")})
    agent = make_bin(config, port=1).agent
    agent.db.close()
    agent.instance_lock.release()


def test_config_validate_checks_the_certificates_name(tmp_path: Path, pki: Path) -> None:
    runner = CliRunner()
    wrong = runner.invoke(
        cli, ["config", "validate", str(config_file(tmp_path, pki, "bin-002", "bin-001"))]
    )
    assert wrong.exit_code == 1
    assert "broker.tls.cert_file: certificate is for 'bin-001', not this bin 'bin-002'" in (
        wrong.output
    )
    right = runner.invoke(
        cli, ["config", "validate", str(config_file(tmp_path, pki, "bin-001", "bin-001"))]
    )
    assert right.exit_code == 0, right.output
    assert "valid configuration for bin bin-001" in right.output
    # Not installed yet where the file is checked: said, not failed.
    elsewhere = config_file(tmp_path, tmp_path / "not-here", "bin-001", "bin-001")
    absent = runner.invoke(cli, ["config", "validate", str(elsewhere)])
    assert absent.exit_code == 0, absent.output
    assert "not here; not checked" in absent.output
    # Something that is not a certificate fails, naming the key.
    garbage = tmp_path / "garbage" / "bins"
    garbage.mkdir(parents=True)
    (garbage / "bin-001.crt").write_text("not a certificate\n")
    bad = runner.invoke(
        cli,
        ["config", "validate", str(config_file(tmp_path, garbage.parent, "bin-001", "bin-001"))],
    )
    assert bad.exit_code == 1
    assert "broker.tls.cert_file:" in bad.output
    assert "is not a PEM certificate" in bad.output


DENY_BINS = "topic read #\ntopic write bins/v1/+/ack\n"
ALLOW_ALL = "topic readwrite #\n"


def test_publishes_the_broker_denies_are_kept_until_the_bridge_confirms(tmp_path: Path) -> None:
    # MQTT 3.1.1: Mosquitto acknowledges a publish its ACL denies, and drops it.
    acl = tmp_path / "revloop.acl"
    acl.write_text(DENY_BINS)
    broker = Mosquitto(tmp_path, extra_config=f"acl_file {acl}\nuser root\n")
    settings = validate_settings(
        {
            "broker": {"url": broker.url, "client_id": "deny-bridge", "backoff_min_s": 0.05},
            "store": {"path": str(tmp_path / "bridge.db")},
        }
    )
    config = bin_config(tmp_path)
    config.broker.confirm_timeout_s = 5.0
    with broker, Bridge(settings) as bridge:
        assert bridge.wait_ready(TIMEOUT)
        agent = make_bin(config, broker.port).agent
        try:
            agent.start_link()
            for i in range(10):
                agent.runtime.emit_event(
                    "alarm", {"kind": "tilt", "active": True, "detail": f"{i}"}
                )
            # Acknowledged by the broker, never stored: they stay, and say so.
            eventually(lambda: agent.outbox.stats().unconfirmed == 10, TIMEOUT, "all taken")
            assert agent.outbox.stats().depth == 10
            assert bridge.stats.stored == 0

            # The ACL is fixed (and reloaded) while the bin stays connected: its next
            # message is stored and acknowledged, and with the bridge acknowledging, the
            # ten it never confirmed are sent again once confirm_timeout_s has passed.
            acl.write_text(ALLOW_ALL)
            broker.reload()
            with Client(broker.port) as probe:
                probe.subscribe("probe")

                def writable() -> bool:
                    probe.publish("probe", b"1")
                    return bool(probe.take_nowait())

                eventually(writable, TIMEOUT, "the ACL reloaded")
            agent.runtime.emit_event("alarm", {"kind": "tilt", "active": False, "detail": None})
            eventually(lambda: agent.outbox.stats().depth == 0, TIMEOUT, "all confirmed")
            alarms = [
                json.loads(m.payload)
                for m in bridge.store.stored_messages("bin-001")
                if m.kind == "events/alarm"
            ]
            assert [a["detail"] for a in alarms] == [str(i) for i in range(10)] + [None]
            assert agent.link.confirmations.resent >= 10
        finally:
            agent.stop()
