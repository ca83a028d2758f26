"""A deployment's PKI and a Mosquitto started with the configuration `bin-bridge
broker-config` generates, plus TLS clients holding the issued certificates."""

from __future__ import annotations

import os
import pwd
import queue
import shutil
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from click.testing import CliRunner
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from cloud_bridge.cli.main import cli
from tests.support.mosquitto import Mosquitto, free_port

BINS = ("bin-001", "bin-002")
READER = "scheduler.north"


def bridge_cli(*args: str) -> str:
    """Run a ``bin-bridge`` command in process; fail the test on a non-zero exit."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@dataclass(frozen=True)
class Identity:
    """The files of one client identity."""

    ca: Path
    cert: Path | None
    key: Path | None


@dataclass
class Deployment:
    """The PKI directory, the broker's directory and the running broker."""

    pki: Path
    broker_dir: Path
    broker: Mosquitto

    def stop(self) -> None:
        """Stop the broker and remove its files."""
        self.broker.stop()
        shutil.rmtree(self.broker_dir, ignore_errors=True)

    @property
    def port(self) -> int:
        return self.broker.port

    def ca(self) -> Path:
        return self.pki / "ca.crt"

    def bin(self, bin_id: str) -> Identity:
        return Identity(
            self.ca(), self.pki / "bins" / f"{bin_id}.crt", self.pki / "bins" / f"{bin_id}.key"
        )

    def bridge(self) -> Identity:
        return Identity(self.ca(), self.pki / "bridge.crt", self.pki / "bridge.key")

    def reader(self) -> Identity:
        return Identity(
            self.ca(),
            self.pki / "clients" / f"{READER}.crt",
            self.pki / "clients" / f"{READER}.key",
        )


def _broker_user() -> pwd.struct_passwd | None:
    """The user a root-started Mosquitto drops to, when the tests run as root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("mosquitto")
    except KeyError:
        return None


def broker_home(directory: Path) -> Path:
    """Where the broker's files go, readable by the broker's user.

    A broker started as root drops to the ``mosquitto`` user before it reads its ACL,
    and pytest's temporary directories are private to root, so the files then go to a
    directory of their own under the system's temporary directory that the user may
    enter (as /etc/mosquitto is); what is in it, ``broker-config`` makes readable.
    """
    user = _broker_user()
    if user is None:
        path = directory / "broker"
        path.mkdir(mode=0o750)
        return path
    path = Path(tempfile.mkdtemp(prefix="revloop-broker-"))
    os.chmod(path, 0o755)
    return path


def make_pki(directory: Path) -> Path:
    """A CA, the broker's certificate for 127.0.0.1, two bins, the bridge and a reader."""
    pki = directory / "pki"
    bridge_cli("pki", "init", "--dir", str(pki))
    bridge_cli(
        "pki", "issue-server", "--dir", str(pki), "--host", "127.0.0.1", "--host", "localhost"
    )
    for bin_id in BINS:
        bridge_cli("pki", "issue-bin", bin_id, "--dir", str(pki))
    bridge_cli("pki", "issue-bridge", "--dir", str(pki))
    bridge_cli("pki", "issue-client", READER, "--dir", str(pki))
    return pki


def broker_user() -> str:
    """The user the test broker reads its files as: ``mosquitto`` when the tests run as
    root (Mosquitto drops to it), else whoever runs the tests."""
    user = _broker_user()
    return user.pw_name if user is not None else pwd.getpwuid(os.geteuid()).pw_name


def start_broker(
    directory: Path, pki: Path, *, options: tuple[str, ...] = ()
) -> tuple[Mosquitto, Path]:
    """Start Mosquitto from what ``broker-config`` writes, used where it is written: the
    configuration, the ACL and the TLS files with the owners and modes the command
    gives them (nothing added; ``options`` are more ``broker-config`` options); the
    broker and the directory of its files."""
    broker_dir = broker_home(directory)
    port = free_port()
    conf = broker_dir / "revloop.conf"
    bridge_cli(
        "broker-config",
        "--dir",
        str(pki),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--certs-dir",
        str(broker_dir / "certs"),
        "--acl-path",
        str(broker_dir / "revloop.acl"),
        "--broker-user",
        broker_user(),
        "--reader",
        READER,
        "--out",
        str(conf),
        *options,
    )
    broker = Mosquitto(directory, port=port, config_text=conf.read_text(encoding="utf-8"))
    broker.start()
    return broker, broker_dir


def start_deployment(
    directory: Path, *, revoked: tuple[str, ...] = (), options: tuple[str, ...] = ()
) -> Deployment:
    """Issue the PKI (revoking ``revoked``), install the broker's files and start
    Mosquitto with the generated configuration (see :func:`start_broker`)."""
    pki = make_pki(directory)
    for name in revoked:
        bridge_cli("pki", "revoke", name, "--dir", str(pki))
    broker, broker_dir = start_broker(directory, pki, options=options)
    return Deployment(pki, broker_dir, broker)


class TlsClient:
    """A paho client (MQTT 3.1.1) over TLS with the given identity."""

    def __init__(
        self,
        port: int,
        identity: Identity,
        *,
        client_id: str | None = None,
        clean_session: bool = True,
    ) -> None:
        self.port = port
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:10]}",
            protocol=mqtt.MQTTv311,
            clean_session=clean_session,
        )
        self.client.tls_set(
            ca_certs=str(identity.ca),
            certfile=str(identity.cert) if identity.cert else None,
            keyfile=str(identity.key) if identity.key else None,
            cert_reqs=ssl.CERT_REQUIRED,
        )
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._connected = threading.Event()
        self._ended = threading.Event()
        self._settled = threading.Event()
        self._subscribed = threading.Event()
        self.granted: list[int] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self._end()
        self.client.on_connect_fail = lambda *_args: self._end()
        self.client.on_message = lambda _c, _u, message: self.messages.put(message)
        self.client.on_subscribe = self._on_subscribe

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any
    ) -> None:
        if reason.is_failure:
            self._end()
        else:
            self._connected.set()
            self._settled.set()

    @property
    def ended(self) -> bool:
        """Whether the connection ended (refused, dropped or closed)."""
        return self._ended.is_set()

    def _end(self) -> None:
        self._ended.set()
        self._settled.set()

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], props: Any
    ) -> None:
        self.granted = [int(reason.value) for reason in reasons]
        self._subscribed.set()

    def connect(self, timeout: float = 10.0) -> bool:
        """Connect; True once the broker accepted, False if it refused or hung up."""
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=10)
        except (ssl.SSLError, OSError):
            return False
        self.client.loop_start()
        self._settled.wait(timeout)
        return self._connected.is_set() and not self._ended.is_set()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish QoS 1 and wait for the broker's acknowledgement."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"no PUBACK for {topic}"

    def subscribe(self, topic: str) -> list[int]:
        """Subscribe QoS 1; the granted QoS (128: refused) once the SUBACK came."""
        self._subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self._subscribed.wait(10), f"no SUBACK for {topic}"
        return self.granted

    def next(self, timeout: float = 10.0) -> mqtt.MQTTMessage:
        """The next message received."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing received in {timeout} s") from None

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> TlsClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
