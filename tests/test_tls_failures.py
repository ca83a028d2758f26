"""Why a connection fails, in words: the bin's and the bridge's links against real
Mosquitto brokers, one failure each (a wrong CA, a plain-text port, an expired or
revoked certificate, a broker certificate for another name, nothing listening), and the
reason they log and show in ``bin-agent status``."""

from __future__ import annotations

import logging
import random
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.ops.status import read_status, render_status
from cloud_bridge.config.settings import validate_settings
from cloud_bridge.mqtt.link import MqttLink as BridgeLink
from cloud_bridge.security.pki import init_ca, issue_bin, issue_server
from protocol.mqtt_client import describe_connection_error
from tests.support.bins import bin_config, make_bin
from tests.support.mosquitto import Mosquitto, free_port, mosquitto_binary
from tests.support.tls import Identity, bridge_cli, make_pki, start_broker
from tests.support.waiting import eventually

LONG_AGO = datetime.now(UTC) - timedelta(days=30)


class LogWatch(logging.Handler):
    """Collects one logger's records; a test waits for the one it expects."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(name)
        self.records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 15.0, count: int = 1) -> logging.LogRecord:
        """The first record whose message contains ``text``, once ``count`` such came."""

        def found() -> list[logging.LogRecord]:
            return [r for r in self.records if text in r.getMessage()]

        with self._changed:
            self._changed.wait_for(lambda: len(found()) >= count, timeout)
            records = found()
        seen = "\n".join(r.getMessage() for r in self.records)
        assert len(records) >= count, f"not {count} log lines with {text!r}; logged:\n{seen}"
        return records[0]

    def matching(self, text: str) -> list[logging.LogRecord]:
        """The records so far whose message contains ``text``."""
        with self._changed:
            return [r for r in self.records if text in r.getMessage()]

    def __enter__(self) -> LogWatch:
        self.logger.addHandler(self)
        self.previous = self.logger.level
        self.logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)
        self.logger.setLevel(self.previous)


@dataclass
class Brokers:
    """One deployment's PKI and brokers that each fail a client in their own way."""

    pki: Path
    foreign: Path
    """Another deployment's PKI (its CA and a bin-001)."""
    tls: Mosquitto
    """The deployment's broker; it refuses the revoked bin-002."""
    misnamed: Mosquitto
    """Its certificate names mqtt.example.net only; clients connect to 127.0.0.1."""
    expired: Mosquitto
    """Its certificate expired a month ago."""
    plain: Mosquitto
    """A plain-text MQTT listener."""

    def bin(self, bin_id: str, *, ca: Path | None = None, pki: Path | None = None) -> Identity:
        home = pki or self.pki
        return Identity(
            ca or self.pki / "ca.crt",
            home / "bins" / f"{bin_id}.crt",
            home / "bins" / f"{bin_id}.key",
        )


def _variant(directory: Path, pki: Path, hosts: list[str], now: datetime) -> Path:
    """A copy of ``pki`` whose server certificate is issued for ``hosts`` at ``now``."""
    copy = directory / "pki"
    shutil.copytree(pki, copy)
    issue_server(copy, hosts, days=1, force=True, now=now)
    return copy


@pytest.fixture(scope="module")
def brokers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Brokers]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (see README)")
    root = tmp_path_factory.mktemp("tls-failures")
    pki = make_pki(root)
    bridge_cli("pki", "revoke", "bin-002", "--dir", str(pki))
    issue_bin(pki, "bin-003", days=1, now=LONG_AGO)  # expired
    foreign = root / "foreign"
    init_ca(foreign)
    issue_bin(foreign, "bin-001")
    started: list[Mosquitto] = []
    try:
        for name, hosts, when in (
            ("tls", None, None),
            ("misnamed", ["mqtt.example.net"], datetime.now(UTC)),
            ("expired", ["127.0.0.1"], LONG_AGO),
        ):
            home = root / name
            home.mkdir()
            source = pki if hosts is None or when is None else _variant(home, pki, hosts, when)
            started.append(start_broker(home, source)[0])
        plain = Mosquitto(root)
        plain.start()
        started.append(plain)
        yield Brokers(pki, foreign, *started)
    finally:
        for broker in started:
            broker.stop()


CASES = {
    "wrong CA file": ("tls", "bin-001", "foreign-ca", "not signed by the CA in ca_file"),
    "plain-text port": ("plain", "bin-001", None, "the port does not speak TLS"),
    "expired certificate": ("tls", "bin-003", None, "certificate as expired"),
    "revoked certificate": ("tls", "bin-002", None, "it is revoked"),
    "certificate of another CA": ("tls", "bin-001", "foreign-cert", "does not trust the CA"),
    "broker certificate for another name": ("misnamed", "bin-001", None, "does not name the"),
    "expired broker certificate": ("expired", "bin-001", None, "certificate has expired"),
    "nothing listening": ("closed", "bin-001", None, "connection refused"),
}


def _case(brokers: Brokers, case: str) -> tuple[int, str, Identity, str]:
    broker, bin_id, twist, expected = CASES[case]
    port = free_port() if broker == "closed" else getattr(brokers, broker).port
    if twist == "foreign-ca":
        identity = brokers.bin(bin_id, ca=brokers.foreign / "ca.crt")
    elif twist == "foreign-cert":
        identity = brokers.bin(bin_id, pki=brokers.foreign)
    else:
        identity = brokers.bin(bin_id)
    return port, bin_id, identity, expected


@pytest.mark.parametrize("case", list(CASES))
def test_the_bin_says_why_it_cannot_connect(brokers: Brokers, case: str, tmp_path: Path) -> None:
    port, bin_id, identity, expected = _case(brokers, case)
    config = bin_config(  # the bin the certificate names: a bin refuses another's
        tmp_path,
        bin_id,
        **{
            "broker.tls": f'enabled = true\nca_file = "{identity.ca}"\n'
            f'cert_file = "{identity.cert}"\nkey_file = "{identity.key}"'
        },
    )
    test_bin = make_bin(config, port)
    with LogWatch("agent.link.connection") as logs:
        test_bin.agent.start_link()
        try:
            record = logs.wait_for(expected)
            assert record.getMessage().startswith(
                f"{bin_id} cannot connect to mqtt://127.0.0.1:{port}"
            )
            assert record.levelno == logging.WARNING
            assert expected in (test_bin.agent.link.status().last_error or "")
            assert not test_bin.agent.link.status().connected
        finally:
            test_bin.agent.stop()


def test_bin_agent_status_shows_the_last_connection_error(brokers: Brokers, tmp_path: Path) -> None:
    identity = brokers.bin("bin-002")  # revoked
    config = bin_config(
        tmp_path,
        "bin-002",
        **{
            "broker.tls": f'enabled = true\nca_file = "{identity.ca}"\n'
            f'cert_file = "{identity.cert}"\nkey_file = "{identity.key}"'
        },
    )
    test_bin = make_bin(config, brokers.tls.port)
    with LogWatch("agent.link.connection") as logs:
        test_bin.agent.start_link()
        try:
            logs.wait_for("it is revoked")
            # the link's publisher thread writes the state for `bin-agent status`
            eventually(lambda: read_status(config).last_error is not None, what="state written")
            report = read_status(config)
            assert "it is revoked" in (report.last_error or "")
            assert not report.connected
            assert "last error     the broker refused this client's certificate" in (
                render_status(report, as_json=False)
            )
        finally:
            test_bin.agent.stop()


@pytest.mark.parametrize(
    "case", ["wrong CA file", "plain-text port", "revoked certificate", "nothing listening"]
)
def test_the_bridge_says_why_it_cannot_connect(brokers: Brokers, case: str) -> None:
    port, _, identity, expected = _case(brokers, case)
    settings = validate_settings(
        {
            "broker": {
                "url": f"mqtts://127.0.0.1:{port}",
                "client_id": "revloop-bridge",
                "ca_file": str(identity.ca),
                "cert_file": str(identity.cert),
                "key_file": str(identity.key),
                "backoff_min_s": 0.1,
                "backoff_max_s": 1.0,
            }
        }
    )
    link = BridgeLink(
        settings.broker, deliver=lambda _: None, published=lambda _: None, rng=random.Random(1)
    )
    with LogWatch("cloud_bridge.mqtt.link") as logs:
        link.start()
        try:
            record = logs.wait_for(expected)
            assert record.getMessage().startswith(
                f"cannot connect to the broker at mqtts://127.0.0.1:{port}: "
            )
            assert record.levelno == logging.WARNING
            assert expected in (link.last_error or "")
            # the next attempts fail alike: still logged, but only at INFO
            logs.wait_for(expected, count=2)
            assert [r.levelno for r in logs.matching(expected)][1] == logging.INFO
        finally:
            link.stop()


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (socket.gaierror(-2, "Name or service not known"), "host name does not resolve"),
        (TimeoutError("timed out"), "no answer in time"),
        (ConnectionRefusedError(111, "Connection refused"), "connection refused"),
        (ConnectionResetError(104, "Connection reset by peer"), "a TLS port reached without TLS"),
        (None, "closed the connection before accepting it"),
        (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "TLS handshake"),
    ],
)
def test_each_failure_is_one_line(error: BaseException | None, expected: str) -> None:
    text = describe_connection_error(error)
    assert expected in text
    assert "\n" not in text
