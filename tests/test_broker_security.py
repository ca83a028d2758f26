"""The generated broker configuration, enforced by a real Mosquitto: TLS with client
certificates from the deployment's CA, and the topic ACL (a bin speaks only for itself
and hears only its own commands and configuration).

Deny paths are checked positively: a denied QoS 1 publish is acknowledged and dropped
by Mosquitto for MQTT 3.1.1 clients, so each test sends an allowed "sentinel" message
after the forbidden one, on the same path, and asserts the sentinel is the first (and
only) thing that arrives.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud_bridge.security.pki import init_ca, issue_bin
from tests.support.mosquitto import mosquitto_binary
from tests.support.tls import Deployment, Identity, TlsClient, start_deployment


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: apt-get install mosquitto (see README)")
    deployed = start_deployment(tmp_path_factory.mktemp("deployment"))
    yield deployed
    deployed.stop()


def connected(
    deployment: Deployment,
    identity: Identity,
    client_id: str | None = None,
    *,
    clean_session: bool = True,
) -> TlsClient:
    client = TlsClient(deployment.port, identity, client_id=client_id, clean_session=clean_session)
    assert client.connect(), f"{identity.cert} could not connect"
    return client


def test_a_bin_publishes_its_own_telemetry(deployment: Deployment) -> None:
    with (
        connected(deployment, deployment.bridge(), "bridge-a") as bridge,
        connected(deployment, deployment.bin("bin-001"), "bin-001") as bin1,
    ):
        bridge.subscribe("bins/v1/#")
        bin1.publish("bins/v1/bin-001/telemetry", b'{"fill_pct": 10}')
        bin1.publish("bins/v1/bin-001/events/deposit", b"{}")
        assert bridge.next().topic == "bins/v1/bin-001/telemetry"
        assert bridge.next().topic == "bins/v1/bin-001/events/deposit"


@pytest.mark.parametrize("client_id", ["bin-001", "bin-002"])
def test_a_bin_cannot_publish_as_another_bin(deployment: Deployment, client_id: str) -> None:
    # With client id "bin-002" too: the ACL follows the certificate, not the client id.
    with (
        connected(deployment, deployment.bridge(), "bridge-b") as bridge,
        connected(deployment, deployment.bin("bin-001"), client_id) as bin1,
    ):
        bridge.subscribe("bins/v1/#")
        bin1.publish("bins/v1/bin-002/telemetry", b"forged")
        bin1.publish("bins/v1/bin-002/state", b"forged", retain=True)
        bin1.publish("bins/v1/bin-001/config/desired", b"forged")  # its own, but cloud's
        bin1.publish("bins/v1/bin-001/cmd", b"forged")
        bin1.publish("fleet/v1/pickups/north", b"forged")
        bin1.publish("bins/v1/bin-001/health", b"sentinel")
        message = bridge.next()
        assert (message.topic, message.payload) == ("bins/v1/bin-001/health", b"sentinel")
        assert bridge.messages.empty()


def test_a_bin_cannot_take_over_another_bins_client_id(deployment: Deployment) -> None:
    # MQTT ends the older connection of a client id that connects again; with the id
    # bound to the certificate, bin-001 sending "bin-002" connects as "bin-001".
    with (
        connected(deployment, deployment.bridge(), "bridge-takeover") as bridge,
        connected(deployment, deployment.bin("bin-002"), "bin-002") as bin2,
    ):
        bin2.subscribe("bins/v1/bin-002/cmd")
        with connected(deployment, deployment.bin("bin-001"), "bin-002") as impostor:
            impostor.subscribe("bins/v1/bin-001/cmd")
            bridge.publish("bins/v1/bin-002/cmd", b"for bin-002")
            bridge.publish("bins/v1/bin-001/cmd", b"for bin-001")
            assert bin2.next().payload == b"for bin-002"
            assert impostor.next().payload == b"for bin-001"
            assert not bin2.ended
            assert not impostor.ended


def test_each_offline_clients_queue_is_bounded_in_bytes(tmp_path: Path) -> None:
    # 60 commands of 1 KiB for an offline bin; the broker keeps at most 8 KiB of them.
    deployed = start_deployment(
        tmp_path, options=("--max-queued-messages", "1000", "--max-queued-bytes", "8192")
    )
    try:
        assert "max_queued_bytes 8192" in deployed.broker.config_path.read_text(encoding="utf-8")
        with connected(deployed, deployed.bin("bin-001"), "bin-001", clean_session=False) as bin1:
            bin1.subscribe("bins/v1/bin-001/cmd")
        with connected(deployed, deployed.bridge(), "bridge-queue") as bridge:
            for index in range(60):
                bridge.publish("bins/v1/bin-001/cmd", b"%04d" % index + b"x" * 1020)
            with connected(
                deployed, deployed.bin("bin-001"), "bin-001", clean_session=False
            ) as bin1:
                bridge.publish("bins/v1/bin-001/cmd", b"sentinel")
                queued = 0
                while bin1.next().payload != b"sentinel":
                    queued += 1
        assert 1 <= queued < 60
        assert queued * 1024 <= 8192 + 20 * 1024  # the bound, plus one in-flight window
    finally:
        deployed.stop()


def test_a_bin_cannot_read_another_bins_commands(deployment: Deployment) -> None:
    with (
        connected(deployment, deployment.bridge(), "bridge-c") as bridge,
        connected(deployment, deployment.bin("bin-001"), "bin-001") as bin1,
        connected(deployment, deployment.bin("bin-002"), "bin-002") as bin2,
    ):
        bin1.subscribe("bins/v1/bin-002/cmd")
        bin1.subscribe("bins/v1/bin-002/config/desired")
        bin1.subscribe("bins/v1/+/telemetry")
        bin1.subscribe("bins/v1/bin-001/cmd")
        bridge.publish("bins/v1/bin-002/cmd", b"secret")
        bridge.publish("bins/v1/bin-002/config/desired", b"secret", retain=True)
        bin2.publish("bins/v1/bin-002/telemetry", b"private")
        bridge.publish("bins/v1/bin-001/cmd", b"sentinel")
        message = bin1.next()
        assert (message.topic, message.payload) == ("bins/v1/bin-001/cmd", b"sentinel")
        assert bin1.messages.empty()
        # The bin the command was for does receive it.
        bin2.subscribe("bins/v1/bin-002/cmd")
        bridge.publish("bins/v1/bin-002/cmd", b"for bin-002")
        assert bin2.next().payload == b"for bin-002"
        bridge.publish("bins/v1/bin-002/config/desired", b"", retain=True)  # clear it


def test_only_the_bridge_acknowledges_and_each_bin_hears_only_its_own(
    deployment: Deployment,
) -> None:
    with (
        connected(deployment, deployment.bridge(), "bridge-ack") as bridge,
        connected(deployment, deployment.bin("bin-001"), "bin-001") as bin1,
        connected(deployment, deployment.bin("bin-002"), "bin-002") as bin2,
    ):
        bin1.subscribe("bins/v1/bin-002/ack")
        bin1.subscribe("bins/v1/bin-001/ack")
        # A forged ack would make a bin delete messages the bridge never stored.
        bin2.publish("bins/v1/bin-001/ack", b"forged by another bin")
        bin1.publish("bins/v1/bin-001/ack", b"forged by itself")
        bridge.publish("bins/v1/bin-002/ack", b"for bin-002")
        bridge.publish("bins/v1/bin-001/ack", b"sentinel")
        message = bin1.next()
        assert (message.topic, message.payload) == ("bins/v1/bin-001/ack", b"sentinel")
        assert bin1.messages.empty()


def test_a_bin_reads_its_own_retained_configuration(deployment: Deployment) -> None:
    with connected(deployment, deployment.bridge(), "bridge-d") as bridge:
        bridge.publish("bins/v1/bin-001/config/desired", b'{"version": 1}', retain=True)
    with connected(deployment, deployment.bin("bin-001"), "bin-001") as bin1:
        bin1.subscribe("bins/v1/bin-001/config/desired")
        message = bin1.next()
        assert message.retain
        assert message.payload == b'{"version": 1}'
        bin1.publish("bins/v1/bin-001/config/reported", b"{}", retain=True)
    with connected(deployment, deployment.bridge(), "bridge-d") as bridge:
        bridge.publish("bins/v1/bin-001/config/desired", b"", retain=True)
        bridge.publish("bins/v1/bin-001/config/reported", b"", retain=True)


def test_a_reader_hears_fleet_topics_only(deployment: Deployment) -> None:
    with (
        connected(deployment, deployment.bridge(), "bridge-e") as bridge,
        connected(deployment, deployment.reader(), "scheduler-north") as reader,
        connected(deployment, deployment.bin("bin-001"), "bin-001") as bin1,
    ):
        reader.subscribe("bins/v1/#")
        reader.subscribe("fleet/v1/#")
        bin1.publish("bins/v1/bin-001/telemetry", b"not for schedulers")
        reader.publish("fleet/v1/pickups/north", b"forged by a reader")
        bridge.publish("fleet/v1/pickups/north", b"sentinel")
        message = reader.next()
        assert (message.topic, message.payload) == ("fleet/v1/pickups/north", b"sentinel")
        assert reader.messages.empty()


def test_a_client_without_a_certificate_cannot_connect(deployment: Deployment) -> None:
    anonymous = TlsClient(deployment.port, Identity(deployment.ca(), None, None))
    try:
        assert not anonymous.connect()
    finally:
        anonymous.client.loop_stop()


def test_a_certificate_from_another_ca_cannot_connect(
    deployment: Deployment, tmp_path: Path
) -> None:
    # A look-alike CA issuing a certificate with a real bin's name.
    rogue = tmp_path / "rogue"
    init_ca(rogue)
    issued = issue_bin(rogue, "bin-001")
    impostor = TlsClient(deployment.port, Identity(deployment.ca(), issued.cert, issued.key))
    try:
        assert not impostor.connect()
    finally:
        impostor.client.loop_stop()


def test_a_revoked_bin_cannot_connect(tmp_path: Path) -> None:
    deployed = start_deployment(tmp_path, revoked=("bin-002",))
    try:
        assert "crlfile" in deployed.broker.config_path.read_text(encoding="utf-8")
        revoked = TlsClient(deployed.port, deployed.bin("bin-002"), client_id="bin-002")
        try:
            assert not revoked.connect()
        finally:
            revoked.client.loop_stop()
        with connected(deployed, deployed.bin("bin-001"), "bin-001"):
            pass
    finally:
        deployed.stop()


def test_plain_mqtt_is_refused(deployment: Deployment) -> None:
    tool = shutil.which("mosquitto_pub")
    if tool is None:
        pytest.skip("mosquitto_pub is not installed (apt-get install mosquitto-clients)")
    result = subprocess.run(
        [
            tool,
            "-h",
            "127.0.0.1",
            "-p",
            str(deployment.port),
            "-t",
            "bins/v1/bin-001/telemetry",
            "-m",
            "x",
            "-q",
            "1",
        ],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0


def test_mosquitto_clients_with_the_issued_certificates(deployment: Deployment) -> None:
    """Outside clients we did not write, with the files a technician would use."""
    pub, sub = shutil.which("mosquitto_pub"), shutil.which("mosquitto_sub")
    if pub is None or sub is None:
        pytest.skip("mosquitto clients are not installed (apt-get install mosquitto-clients)")
    common = ["-h", "127.0.0.1", "-p", str(deployment.port), "--cafile", str(deployment.ca())]
    bridge, bin1 = deployment.bridge(), deployment.bin("bin-001")
    topic = "bins/v1/bin-001/config/reported"  # retained: no race with the subscriber

    def publish(message: str) -> None:
        subprocess.run(
            [
                pub,
                *common,
                "--cert",
                str(bin1.cert),
                "--key",
                str(bin1.key),
                "-i",
                "bin-001",
                "-t",
                topic,
                "-m",
                message,
                "-q",
                "1",
                "-r",
            ],
            check=True,
            timeout=30,
        )

    publish('{"version": 7}')
    try:
        received = subprocess.run(
            [
                sub,
                *common,
                "--cert",
                str(bridge.cert),
                "--key",
                str(bridge.key),
                "-i",
                "bridge-sub",
                "-t",
                topic,
                "-C",
                "1",
                "-W",
                "20",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    finally:
        publish("")  # clear the retained message
    assert received.stdout.strip() == '{"version": 7}'
