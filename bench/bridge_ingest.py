"""Bridge ingest rate: telemetry from Mosquitto into SQLite, next to a bare paho subscriber.

Method (one run, one broker). Persistent sessions are made, all offline, for
``--rounds`` bare paho subscribers and as many bridges per SQLite ``synchronous``
mode; N valid QoS 1 telemetry messages from several bins are then published once,
so the broker queues the same N messages for every session. The sessions then
connect one at a time, interleaved round by round (bare, bridge NORMAL, bridge FULL,
bare, ...), and each drains its queue:

* bare: a paho client (QoS 1, automatic acks) that only counts, from ``connect`` to
  the N-th message;
* bridge: ``Bridge.start()`` to the moment all N are committed and acknowledged
  (each bridge has its own fresh database, checked afterwards to hold all N).

Both clocks start before the connection, so both rates include connecting. The
interpreter's switch interval is set as ``bin-bridge run`` sets it, for both. The
machine is shared, so the rounds are interleaved and the medians reported. Run:
``.venv/bin/python bench/bridge_ingest.py [--messages 50000] [--bins 50] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud_bridge.cli.main import SWITCH_INTERVAL_S
from cloud_bridge.config.settings import BridgeSettings, validate_settings
from cloud_bridge.runtime import BridgeRuntime
from cloud_bridge.store import open_store
from tests.support.bin_messages import telemetry
from tests.support.mosquitto import Mosquitto

TOPIC = "bins/v1/+/telemetry"
MODES = ("NORMAL", "FULL")


def _client(client_id: str, port: int) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=False,
        protocol=mqtt.MQTTv311,
    )
    client.max_inflight_messages_set(1000)
    return client


def make_bare_session(client_id: str, port: int) -> None:
    """Subscribe once with a persistent session, then leave."""
    client = _client(client_id, port)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(TOPIC, 1)
    if not subscribed.wait(10):
        raise RuntimeError("bare subscriber got no SUBACK")
    client.disconnect()
    client.loop_stop()


def publish(port: int, messages: list[tuple[str, bytes]]) -> float:
    """Publish QoS 1, 1,000 in flight at a time; return the rate (msg/s)."""
    client = _client("bench-publisher", port)
    client.connect("127.0.0.1", port)
    client.loop_start()
    start = time.perf_counter()
    for first in range(0, len(messages), 1000):
        infos = [client.publish(t, p, qos=1) for t, p in messages[first : first + 1000]]
        for info in infos:
            info.wait_for_publish(timeout=120)
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return len(messages) / elapsed


def drain_bare(client_id: str, port: int, count: int) -> float:
    """Connect a bare subscriber and count until ``count`` arrived; return msg/s."""
    client = _client(client_id, port)
    done = threading.Event()
    received = 0

    def on_message(_client: mqtt.Client, _userdata: object, _message: mqtt.MQTTMessage) -> None:
        nonlocal received
        received += 1
        if received >= count:
            done.set()

    client.on_message = on_message
    start = time.perf_counter()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not done.wait(600):
        raise RuntimeError(f"bare subscriber got {received} of {count}")
    elapsed = time.perf_counter() - start
    client.disconnect()
    client.loop_stop()
    return count / elapsed


def bridge_settings(client_id: str, port: int, db: Path, mode: str) -> BridgeSettings:
    return validate_settings(
        {
            "broker": {"url": f"mqtt://127.0.0.1:{port}", "client_id": client_id},
            "store": {"path": str(db), "synchronous": mode},
        }
    )


def make_bridge_session(settings: BridgeSettings) -> None:
    """Start and stop a bridge once so the broker holds its session."""
    bridge = BridgeRuntime(settings)
    bridge.start()
    if not bridge.wait_ready(10):
        raise RuntimeError("bridge did not subscribe")
    bridge.stop()


def drain_bridge(settings: BridgeSettings, count: int) -> tuple[float, float]:
    """Start the bridge, wait until ``count`` are committed; return msg/s and msg/batch."""
    bridge = BridgeRuntime(settings)
    start = time.perf_counter()
    bridge.start()
    if not bridge.wait_processed(count, 600):
        raise RuntimeError(f"bridge committed {bridge.stats.processed} of {count}")
    elapsed = time.perf_counter() - start
    stats = bridge.stats
    bridge.stop()
    store = open_store(settings.store, readonly=True)
    stored = store.message_counts().get("telemetry", 0)
    store.close()
    if stored != count or stats.stored != count:
        raise RuntimeError(f"stored {stored} (bridge says {stats.stored}), expected {count}")
    return count / elapsed, count / stats.batches


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description="Bridge ingest rate next to a bare subscriber.")
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--bins", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    per_bin = args.messages // args.bins
    count = per_bin * args.bins
    messages = [
        telemetry(f"bench-{b:04d}", seq, fill=(seq % 70) + 1.0)
        for seq in range(1, per_bin + 1)
        for b in range(args.bins)
    ]
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs ({cpu_model()})")
    print(f"{count} telemetry messages (QoS 1) from {args.bins} bins, {args.rounds} rounds")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        sessions = max(100_000, count + 1)
        broker = Mosquitto(workdir, extra_config=f"max_queued_messages {sessions}\n")
        with broker:
            plan: list[tuple[str, BridgeSettings | None]] = []
            for r in range(args.rounds):
                make_bare_session(f"bench-bare-{r}", broker.port)
                plan.append((f"bench-bare-{r}", None))
                for mode in MODES:
                    name = f"bench-{mode.lower()}-{r}"
                    settings = bridge_settings(name, broker.port, workdir / f"{name}.db", mode)
                    make_bridge_session(settings)
                    plan.append((name, settings))
            rate = publish(broker.port, messages)
            print(f"published at {rate:,.0f} msg/s, queued for {len(plan)} sessions")
            bare: list[float] = []
            bridged: dict[str, list[float]] = {mode: [] for mode in MODES}
            for name, settings in plan:
                if settings is None:
                    bare.append(drain_bare(name, broker.port, count))
                    print(f"  {name}: {bare[-1]:,.0f} msg/s")
                else:
                    value, per_batch = drain_bridge(settings, count)
                    bridged[settings.store.synchronous].append(value)
                    print(
                        f"  {name}: {value:,.0f} msg/s ({value / bare[-1]:.2f} of the bare "
                        f"run before it; {per_batch:.0f} msg per commit)"
                    )
    bare_median = statistics.median(bare)
    print(f"bare paho subscriber, median: {bare_median:,.0f} msg/s")
    for mode in MODES:
        median = statistics.median(bridged[mode])
        print(
            f"bridge, synchronous={mode}, median: {median:,.0f} msg/s "
            f"({median / bare_median:.2f} of bare)"
        )


if __name__ == "__main__":
    main()
