"""systemd notifications on a real unix datagram socket, and ``bin-agent run`` as a
service would run it: READY, watchdog pings from its loop, STOPPING, and the exit
status of a remote restart."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.clock import ManualClock
from agent.ops.sdnotify import Notifier, WatchdogHook
from tests.support.bins import bin_config, make_bin
from tests.support.collector import Collector
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import Client
from tests.support.remote import Remote, close, command


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A service manager's notification socket."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(30)
    yield sock, str(path)
    sock.close()


def receive(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


def test_notifications_reach_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready("bin sim-1 running")
    assert receive(sock) == "READY=1\nSTATUS=bin sim-1 running"
    assert notifier.watchdog()
    assert receive(sock) == "WATCHDOG=1"
    assert notifier.stopping()
    assert receive(sock) == "STOPPING=1"
    notifier.close()


def test_abstract_socket_names() -> None:
    name = f"revloop-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(10)
    try:
        notifier = Notifier(f"@{name}")
        assert notifier.ready()
        assert receive(sock) == "READY=1"
    finally:
        sock.close()


def test_without_a_service_manager_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert notifier.watchdog_s is None


def test_a_vanished_socket_is_logged_not_raised(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"))
    assert not notifier.watchdog()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 20.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}, 20.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),  # meant for another
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
    ],
)
def test_watchdog_interval(environ: dict[str, str], expected: float | None) -> None:
    assert Notifier.from_environment(environ).watchdog_s == expected


def test_watchdog_pings_from_the_runtime_loop_at_half_the_interval(
    listener: tuple[socket.socket, str], tmp_path: Path
) -> None:
    sock, path = listener
    clock = ManualClock()
    test_bin = make_bin(bin_config(tmp_path), port=1, clock=clock)
    try:
        notifier = Notifier(path, watchdog_s=20.0)
        with pytest.raises(ValueError, match="WATCHDOG_USEC"):
            WatchdogHook(Notifier(path))
        test_bin.agent.runtime.hooks.append(WatchdogHook(notifier))
        Remote(test_bin, clock).run(55)  # pings at 0, 10, 20, 30, 40, 50 s
        sock.setblocking(False)
        pings = []
        while True:
            try:
                pings.append(receive(sock))
            except BlockingIOError:
                break
        assert pings == ["WATCHDOG=1"] * 6
    finally:
        close(test_bin)


# -- bin-agent run as a service --------------------------------------------------------


def start_agent(
    tmp_path: Path, mosquitto: Mosquitto, notify_path: str
) -> tuple[subprocess.Popen[str], str]:
    bin_id = "svc-0001"
    config = tmp_path / "agent.toml"
    config.write_text(
        f"""
[identity]
bin_id = "{bin_id}"
[hardware]
backend = "sim-device"
[broker]
port = {mosquitto.port}
backoff_min_s = 0.1
[storage]
path = "state/agent.db"
[simulation]
deposits_per_hour = 0
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "NOTIFY_SOCKET": notify_path,
        "WATCHDOG_USEC": "1000000",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from agent.cli.main import main; main()",
            *("run", "--config", str(config), "--clock-synced"),
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return process, bin_id


def stop(process: subprocess.Popen[str]) -> str:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    assert process.stderr is not None
    return process.stderr.read()


def test_run_notifies_ready_watchdog_and_stopping(
    tmp_path: Path, mosquitto: Mosquitto, listener: tuple[socket.socket, str]
) -> None:
    sock, path = listener
    process, _ = start_agent(tmp_path, mosquitto, path)
    try:
        assert receive(sock).startswith("READY=1\nSTATUS=bin svc-0001 running")
        assert receive(sock) == "WATCHDOG=1"
        assert receive(sock) == "WATCHDOG=1"  # again, half a second later
        process.send_signal(signal.SIGTERM)
        while (message := receive(sock)) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
        assert process.wait(timeout=30) == 0
    finally:
        stop(process)


def test_remote_restart_answers_then_exits_75(
    tmp_path: Path, mosquitto: Mosquitto, listener: tuple[socket.socket, str]
) -> None:
    sock, path = listener
    process, bin_id = start_agent(tmp_path, mosquitto, path)
    try:
        assert receive(sock).startswith("READY=1")
        with Collector(mosquitto.port, [f"bins/v1/{bin_id}/#"]) as cloud:
            cloud.wait_for(lambda ms: any(m.topic.endswith("/state") for m in ms))
            cid, payload = command("restart", datetime.now(UTC))
            with Client(mosquitto.port) as tool:
                tool.publish(f"bins/v1/{bin_id}/cmd", payload)
            assert process.wait(timeout=30) == 75
            received = cloud.wait_for(
                lambda ms: (
                    any(m.topic.endswith("/cmd/result") for m in ms)
                    and any(m.topic.endswith("/state") and not m.json()["online"] for m in ms)
                )
            )
        (result,) = [m.json() for m in received if m.topic.endswith("/cmd/result")]
        assert (result["id"], result["ok"]) == (cid, True)
        death = [m.json() for m in received if m.topic.endswith("/state")][-1]
        assert death["reason"] == "shutdown"  # a clean stop, not a lost connection
    finally:
        output = stop(process)
    assert "remote restart requested" in output
