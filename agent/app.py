"""Assembling one agent from its configuration: database, outbox, link, hardware, runtime.

``bin-agent run`` uses it on the system clock; the fleet simulator builds many of them
on one virtual clock with simulated hardware.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from agent import __version__
from agent.clock import Clock
from agent.hardware.devices import BinHardware
from agent.intake import DepositClassifier
from agent.link.connection import MqttLink
from agent.link.identity import check_certificate_name
from agent.link.messages import MessageFactory, new_boot_id
from agent.ops.instance_lock import InstanceLock
from agent.remote.commands import RemoteCommands
from agent.remote.config import RemoteConfig, restore
from agent.runtime import AgentRuntime
from agent.storage.commands_seen import SeenCommands
from agent.storage.localdb import LocalDb
from agent.storage.outbox import Outbox
from firmware_config.schema import DeviceConfig
from protocol.topics import TopicKind
from protocol.transport import BrokerUrl

log = logging.getLogger(__name__)


@dataclass
class Agent:
    """One bin's agent, wired together and ready to start."""

    config: DeviceConfig
    clock: Clock
    hardware: BinHardware
    db: LocalDb
    outbox: Outbox
    messages: MessageFactory
    runtime: AgentRuntime
    link: MqttLink
    instance_lock: InstanceLock
    remote_config: RemoteConfig
    commands: RemoteCommands
    restart_requested: threading.Event = field(default_factory=threading.Event)
    """Set by a remote ``restart``: ``bin-agent run`` then exits for systemd to restart it."""
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    @classmethod
    def build(
        cls,
        config: DeviceConfig,
        hardware: BinHardware,
        clock: Clock,
        *,
        endpoint: BrokerUrl | None = None,
        rng: random.Random | None = None,
        idle_poll_s: float | None = None,
        classifier: DepositClassifier | None = None,
        config_path: Path | None = None,
    ) -> Agent:
        """Open the database and wire the parts; nothing connects until ``start``.

        ``config`` is the configuration file's; a remote configuration applied earlier
        is re-applied on top of it from the database. ``config_path`` is the file it
        came from, where a remote ``tare`` writes the new zero (None: memory only).
        Raises :class:`~agent.link.identity.CertificateMismatch` when the client
        certificate names another bin: the broker would drop all this bin publishes.
        """
        check_certificate_name(config.broker, config.identity.bin_id)
        file_config = config
        endpoint = endpoint or BrokerUrl(
            config.broker.host, config.broker.port, config.broker.tls.enabled
        )
        lock = InstanceLock(config.storage.path)
        try:
            db = LocalDb(config.storage.path)
        except BaseException:
            lock.release()
            raise
        try:
            restored = restore(file_config, db)
            config = restored.config
            outbox = Outbox(
                db, clock, max_rows=config.storage.max_rows, max_bytes=config.storage.max_bytes
            )
            messages = MessageFactory(
                config, clock, boot_id=new_boot_id(), agent_version=__version__
            )
            runtime = AgentRuntime(
                config,
                hardware,
                clock,
                db=db,
                outbox=outbox,
                messages=messages,
                idle_poll_s=idle_poll_s,
                classifier=classifier,
            )
            link = MqttLink(
                bin_id=config.identity.bin_id,
                broker=config.broker,
                endpoint=endpoint,
                outbox=outbox,
                db=db,
                clock=clock,
                rng=rng or random.Random(),
                state_topic=messages.topic(TopicKind.STATE),
                state_payload=lambda bd_seq, online, reason: messages.state(
                    outbox.last_seq, bd_seq, online, reason
                ),
                subscriptions=[
                    messages.topic(TopicKind.CONFIG_DESIRED),
                    messages.topic(TopicKind.CMD),
                ],
                on_message=runtime.receive,
            )
            outbox.add_listener(link.wake)

            def link_status() -> tuple[bool, int]:
                status = link.status()
                return status.connected, status.reconnects

            runtime.link_status = link_status

            remote_config = RemoteConfig(
                runtime, file_config, messages=messages, outbox=outbox, stored=db
            )
            remote_config.report_dropped(restored)
            runtime.handlers[TopicKind.CONFIG_DESIRED] = remote_config.handle
            runtime.hooks.append(remote_config.step)
            stop = threading.Event()
            restart = threading.Event()

            def on_restart() -> None:
                log.warning("remote restart requested: stopping for the service manager")
                restart.set()
                stop.set()
                runtime.wake()

            commands = RemoteCommands(
                runtime,
                hardware=hardware,
                clock=clock,
                messages=messages,
                outbox=outbox,
                config_path=config_path,
                captures_dir=config.storage.path.parent / "captures",
                on_restart=on_restart,
                ledger=SeenCommands(db),
            )
            runtime.handlers[TopicKind.CMD] = commands.handle
            return cls(
                config,
                clock,
                hardware,
                db,
                outbox,
                messages,
                runtime,
                link,
                lock,
                remote_config,
                commands,
                restart_requested=restart,
                _stop=stop,
            )
        except BaseException:
            # A half-built agent must not keep the database or the lock.
            db.close()
            lock.release()
            raise

    def start_link(self) -> None:
        """Connect to the broker in the background (and let a simulated world begin)."""
        self.link.start()
        if self.hardware.world is not None:
            self.hardware.world.start()

    def start(self) -> None:
        """Connect and run the runtime on its own thread (real time)."""
        self.start_link()
        self._thread = threading.Thread(
            target=self.runtime.run,
            args=(self._stop,),
            name=f"agent-{self.config.identity.bin_id}",
            daemon=True,
        )
        self._thread.start()

    def run_forever(self, on_started: Callable[[], None] | None = None) -> None:
        """Connect and run the runtime on the calling thread until ``stop``.

        ``on_started`` is called once the link is started, before the first step (the
        service manager's ``READY=1``).
        """
        self.start_link()
        if on_started is not None:
            on_started()
        self.runtime.run(self._stop)

    def request_stop(self) -> None:
        """Ask ``run_forever`` to return (a signal handler may call it)."""
        self._stop.set()
        self.runtime.wake()

    def stop(self) -> None:
        """Stop stepping, say goodbye to the broker and release everything."""
        self._stop.set()
        self.runtime.wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.link.stop()
        self.hardware.close()
        self.db.close()
        self.instance_lock.release()

    def __enter__(self) -> Agent:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
