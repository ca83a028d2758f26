"""Remote commands: executing a ``cmd`` message and answering on ``cmd/result``.

Every command is answered once, with the command's ``id``, through the outbox (so the
answer survives an outage): ``ok: true`` with a ``result`` object when it ran and
succeeded, ``ok: false`` with an ``error`` otherwise. A command is never executed when

- its name is not one of the contract's commands (``unknown command``);
- it has expired: ``now >= expires_at`` on the bin's wall clock. While the bin's clock
  is not synchronised that clock cannot judge expiry (a Pi without an RTC may boot in
  the past and take a day-old command for a fresh one), so only ``ping``, which changes
  nothing, runs; every other command is refused until the clock is synchronised;
- it was already received: its id is remembered in the agent database before it runs,
  so a QoS 1 redelivery (or a redelivery after a restart) is never executed twice
  (at most once: a power cut between taking and answering leaves it unanswered, and the
  caller's timeout reports it);
- its arguments are not the command's (the error names the argument);
- it would disturb a deposit in progress (``busy``), for commands that use the tray,
  the flap or the process;
- it is ``selftest`` or ``tare`` and the tray may hold an item (``tray occupied``: a
  jammed flap's item, a rejected item not yet taken back, a broken beam): a tare would
  take the item for the zero and the self-test's flap cycle would drop it uncounted.

Commands run on the runtime thread between steps, never in the MQTT callback.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent import __version__
from agent.clock import Clock
from agent.errors import StorageError
from agent.hardware.devices import BinHardware, DeviceError
from agent.intake import CAMERA_TIMEOUT_S
from agent.link.messages import MessageFactory
from agent.ops.calibration import CalibrationError, RawScale, write_calibration
from agent.ops.selftest import run_selftest
from agent.storage.outbox import OutboxStats
from protocol import decode
from protocol.errors import ProtocolError
from protocol.messages import COMMAND_NAMES, Command, CommandResult, format_ts
from protocol.topics import TopicKind

log = logging.getLogger(__name__)

RESTART_EXIT_CODE = 75
"""Exit status of ``bin-agent run`` after a remote ``restart`` (systemd starts it again)."""
REMEMBERED_COMMANDS = 1000
"""How many recent command ids are kept to recognise redeliveries."""
KEPT_CAPTURES = 20
"""Photos kept in the captures directory; older ones are deleted."""
THUMBNAIL_PX = 160
THUMBNAIL_MAX_BYTES = 32 * 1024
"""A thumbnail larger than this (base64) is left out: results stay well under 64 KiB."""
UNTIMED_COMMANDS = frozenset({"ping"})
"""Commands that run even when the bin cannot judge expiry (they change nothing)."""
BUSY_COMMANDS = frozenset({"selftest", "tare", "restart"})
"""Commands refused while a deposit is in progress."""
TRAY_COMMANDS = frozenset({"selftest", "tare"})
"""Commands refused while the tray may hold an item: a tare would take it for the zero,
the self-test's flap cycle would drop it uncounted."""


class CommandTarget(Protocol):
    """The running bin as the commands need it (:class:`agent.runtime.AgentRuntime`)."""

    @property
    def model_version(self) -> str:
        """The classifier model's version."""
        ...

    def config_version(self) -> int:
        """The version of the configuration in force."""
        ...

    def uptime_s(self) -> float:
        """Seconds since the runtime started."""
        ...

    def link_status(self) -> tuple[bool, int]:
        """Whether the broker connection is up, and how many reconnects it took."""
        ...

    def deposit_in_progress(self) -> bool:
        """Whether a deposit is between the door opening and its decision."""
        ...

    def tray_occupied(self) -> str | None:
        """Why the tray may hold an item now; None when it is known empty."""
        ...

    def request_lock(self, reason: str, locked: bool) -> None:
        """Add (``locked``) or remove a reason to keep the door locked."""
        ...

    def lock_reasons(self) -> list[str]:
        """Why the door is locked (empty: it is not)."""
        ...

    def door_locked(self) -> bool:
        """Whether the lock is energised now."""
        ...

    def clear_jam(self) -> bool:
        """Cycle a jammed flap; True when it works (or was not jammed)."""
        ...

    def show_state(self) -> None:
        """Show the bin's state on the indicators again and re-read device health."""
        ...


class ResultOutbox(Protocol):
    """Where the answers go (:class:`agent.storage.outbox.Outbox`)."""

    def append(self, topic: str, build: Callable[[int], bytes], *, droppable: bool) -> int | None:
        """Number, build and durably store one message; its seq."""
        ...

    def stats(self) -> OutboxStats:
        """The outbox's depth and counters (``ping`` reports the depth)."""
        ...


class CommandLedger(Protocol):
    """Remembers the commands already taken (:class:`agent.storage.commands_seen.SeenCommands`)."""

    def first_time(self, command_id: str, name: str, received_at: str, *, keep: int) -> bool:
        """Remember ``command_id`` (and the ``keep`` newest ids) durably; False when it
        was already taken."""
        ...


class _Args(BaseModel):
    """Arguments of a command: unknown ones are errors, strings like "true" are accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _NoArgs(_Args):
    """A command without arguments."""


class CaptureArgs(_Args):
    """``capture``: what to do with the photo besides describing it."""

    save: bool = Field(default=False, description="Keep the JPEG on the bin; return its path.")
    thumbnail: bool = Field(
        default=False, description="Return a small JPEG thumbnail, base64-encoded."
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command answers."""

    ok: bool
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def failed(error: str, **result: Any) -> Outcome:
    """An ``ok: false`` outcome."""
    return Outcome(False, dict(result), error)


class RemoteCommands:
    """Executes this bin's remote commands and stores their results."""

    def __init__(
        self,
        target: CommandTarget,
        *,
        hardware: BinHardware,
        clock: Clock,
        messages: MessageFactory,
        outbox: ResultOutbox,
        config_path: Path | None,
        captures_dir: Path,
        on_restart: Callable[[], None],
        ledger: CommandLedger,
        remember: int = REMEMBERED_COMMANDS,
    ) -> None:
        self.target = target
        self.hardware = hardware
        self.clock = clock
        self.messages = messages
        self.outbox = outbox
        self.ledger = ledger
        self.remember = remember
        self.config_path = config_path
        self.captures_dir = captures_dir
        self.on_restart = on_restart
        self._commands: dict[str, tuple[type[_Args], Callable[[Any], Outcome]]] = {
            "ping": (_NoArgs, self._ping),
            "selftest": (_NoArgs, self._selftest),
            "tare": (_NoArgs, self._tare),
            "lock": (_NoArgs, self._lock),
            "unlock": (_NoArgs, self._unlock),
            "capture": (CaptureArgs, self._capture),
            "restart": (_NoArgs, self._restart),
        }
        missing = set(COMMAND_NAMES) - set(self._commands)
        if missing:  # the contract grew: refuse to start rather than answer "unknown"
            raise RuntimeError(f"contract commands without an implementation: {sorted(missing)}")

    # -- receiving -------------------------------------------------------------------

    def handle(self, payload: bytes) -> None:
        """Take one ``cmd`` payload: execute it (or not) and store the answer."""
        topic = self.messages.topic(TopicKind.CMD)
        try:
            command = decode(Command, payload, topic=topic)
        except ProtocolError as err:
            command_id = _salvage_id(payload)
            log.warning("invalid command %s: %s", command_id or "(no id)", err)
            if command_id is not None and self._first_time(command_id, "(invalid)"):
                self._answer(command_id, failed(f"invalid command: {err}"))
            return
        if not self._first_time(command.id, command.name):
            log.info("command %s (%s) already taken: redelivery ignored", command.id, command.name)
            return
        outcome = self.execute(command)
        log.info(
            "command %s %s: %s", command.id, command.name, "ok" if outcome.ok else outcome.error
        )
        stored = self._answer(command.id, outcome)
        if command.name == "restart" and outcome.ok and stored:
            self.on_restart()

    def execute(self, command: Command) -> Outcome:
        """Run ``command`` if it may run; the outcome either way."""
        if not command.known:
            return failed(
                f"unknown command {command.name!r}; known: {', '.join(COMMAND_NAMES)}",
            )
        clock = self.clock
        now = clock.now()
        if not clock.clock_synced():
            if command.name not in UNTIMED_COMMANDS:
                return failed(
                    "the bin's clock is not synchronised, so it cannot tell whether the "
                    "command has expired; only ping runs until the clock is synchronised",
                    bin_time=format_ts(now),
                    clock_synced=False,
                )
        elif command.expired(now):
            return failed(
                f"expired at {format_ts(command.expires_at)} (bin time {format_ts(now)})",
                bin_time=format_ts(now),
            )
        args_model, run = self._commands[command.name]
        try:
            args = args_model.model_validate(command.args)
        except ValidationError as err:
            problems = [
                f"args.{'.'.join(str(p) for p in item['loc'])}: "
                + ("unknown argument" if item["type"] == "extra_forbidden" else item["msg"])
                for item in err.errors(include_url=False)
            ]
            return failed("; ".join(problems))
        if command.name in BUSY_COMMANDS and self.target.deposit_in_progress():
            return failed("busy: a deposit is in progress; try again in a few seconds")
        if command.name in TRAY_COMMANDS:
            occupied = self.target.tray_occupied()
            if occupied is not None:
                return failed(
                    f"tray occupied: {occupied}; {command.name} runs only with the tray empty"
                )
        try:
            return run(args)
        except DeviceError as err:
            return failed(f"{err.component} {err.code}: {err.detail}")

    def _first_time(self, command_id: str, name: str) -> bool:
        """Remember ``command_id``; False when it was already taken."""
        received = format_ts(self.clock.now())
        return self.ledger.first_time(command_id, name, received, keep=self.remember)

    def _answer(self, command_id: str, outcome: Outcome) -> bool:
        messages = self.messages
        try:
            self.outbox.append(
                messages.topic(TopicKind.CMD_RESULT),
                messages.build(
                    CommandResult,
                    id=command_id,
                    ok=outcome.ok,
                    result=outcome.result,
                    error=outcome.error,
                ),
                droppable=False,
            )
        except StorageError:
            log.exception("cannot store the result of command %s", command_id)
            return False
        return True

    # -- the commands -----------------------------------------------------------------

    def _ping(self, args: _NoArgs) -> Outcome:
        target = self.target
        _, reconnects = target.link_status()
        return Outcome(
            True,
            {
                "uptime_s": target.uptime_s(),
                "agent_version": __version__,
                "model_version": target.model_version,
                "config_version": target.config_version(),
                "boot_id": self.messages.boot_id,
                "bin_time": format_ts(self.clock.now()),
                "clock_synced": self.clock.clock_synced(),
                "outbox_depth": self.outbox.stats().depth,
                "reconnects": reconnects,
            },
        )

    def _selftest(self, args: _NoArgs) -> Outcome:
        results = run_selftest(self.hardware, camera_timeout_s=CAMERA_TIMEOUT_S)
        # The self-test cycles the LEDs: show the bin's state again.
        self.target.show_state()
        checks = [
            {"name": r.name, "component": r.component, "verdict": r.verdict, "detail": r.detail}
            for r in results
        ]
        failures = [r.name for r in results if r.verdict == "fail"]
        return Outcome(
            not failures,
            {"checks": checks, "failed": failures},
            f"failed: {', '.join(failures)}" if failures else None,
        )

    def _tare(self, args: _NoArgs) -> Outcome:
        hardware = self.hardware
        if hardware.door.is_open():
            return failed("the intake door is open: close it with the tray empty, then tare")
        offset = hardware.scale.tare()
        result: dict[str, Any] = {"tare_offset": offset, "written_to": None}
        if not isinstance(hardware.scale, RawScale):
            result["note"] = "this scale keeps its zero in memory only"
            return Outcome(True, result)
        if self.config_path is None:
            result["note"] = "no configuration file: the new zero lasts until the agent restarts"
            return Outcome(True, result)
        try:
            write_calibration(self.config_path, {"tare_offset": offset})
        except (CalibrationError, OSError) as err:
            return failed(f"tared, but calibration.tare_offset was not written: {err}", **result)
        result["written_to"] = str(self.config_path)
        return Outcome(True, result)

    def _lock_result(self) -> dict[str, Any]:
        return {
            "locked": self.target.door_locked(),
            "lock_reasons": self.target.lock_reasons(),
        }

    def _lock(self, args: _NoArgs) -> Outcome:
        self.target.request_lock("remote", True)
        return Outcome(True, self._lock_result())

    def _unlock(self, args: _NoArgs) -> Outcome:
        self.target.request_lock("remote", False)
        jam_cleared = self.target.clear_jam()
        result = {**self._lock_result(), "flap_jam_cleared": jam_cleared}
        reasons = self.target.lock_reasons()
        if reasons:
            return failed(f"the door stays locked: {', '.join(reasons)}", **result)
        return Outcome(True, result)

    def _capture(self, args: CaptureArgs) -> Outcome:
        frame = self.hardware.camera.capture(CAMERA_TIMEOUT_S)
        pixels = np.ascontiguousarray(frame)
        digest = hashlib.sha256(pixels.tobytes()).hexdigest()
        result: dict[str, Any] = {
            "width": int(pixels.shape[1]),
            "height": int(pixels.shape[0]),
            "mean_brightness": round(float(pixels.mean()), 1),
            "sha256": digest,
        }
        image = Image.fromarray(pixels)
        if args.save:
            path = self._save(image, digest)
            result["path"] = str(path)
            result["jpeg_bytes"] = path.stat().st_size
        if args.thumbnail:
            thumb = image.copy()
            thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
            buffer = io.BytesIO()
            thumb.convert("RGB").save(buffer, format="JPEG", quality=70)
            encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
            if len(encoded) <= THUMBNAIL_MAX_BYTES:
                result["thumbnail_jpeg_base64"] = encoded
            else:
                result["note"] = f"thumbnail left out: {len(encoded)} bytes"
        return Outcome(True, result)

    def _save(self, image: Image.Image, digest: str) -> Path:
        """Write the photo as JPEG in the captures directory, keeping the newest few."""
        self.captures_dir.mkdir(parents=True, exist_ok=True)
        stamp = re.sub(r"[^0-9T]", "", format_ts(self.clock.now()))
        path = self.captures_dir / f"capture-{stamp}-{digest[:12]}.jpg"
        image.convert("RGB").save(path, format="JPEG", quality=90)
        kept = sorted(self.captures_dir.glob("capture-*.jpg"))
        for old in kept[:-KEPT_CAPTURES]:
            old.unlink(missing_ok=True)
        return path

    def _restart(self, args: _NoArgs) -> Outcome:
        # The answer is stored first; ``handle`` then asks the process to stop, and
        # ``bin-agent run`` exits with RESTART_EXIT_CODE for systemd to start it again.
        return Outcome(True, {"restarting": True, "exit_code": RESTART_EXIT_CODE})


def _salvage_id(payload: bytes) -> str | None:
    """The ``id`` of a command that failed validation, so it can still be answered."""
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("id")
    if isinstance(value, str) and 1 <= len(value) <= 64:
        return value
    return None
