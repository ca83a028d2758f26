"""The intake state machine: from the door opening to an accept or reject decision.

door opens -> tray watched -> door closes -> weight settles -> photo -> classify ->
decide by accepted categories and minimum confidence -> accept (flap, green, beep) or
reject (red, door stays unlocked) -> ``events/deposit`` stored in the outbox ->
fill re-measured with the door closed -> telemetry.

The machine is driven by ``step(now)`` from the agent runtime and never blocks longer
than one device call (each device call has its own timeout). It survives every fault
in the middle of a deposit:

- a failed camera, or a classifier that raises, gives ``unknown`` (handled by
  ``intake.unknown_policy``; the classifier's failure is fault ``camera``/
  ``classifier_failed``);
- a failed scale leaves the presence of an item to the IR beam and the decision to the
  camera: no ``max_item_g`` limit and no weight plausibility check, ``weight_g`` 0;
- a door switch that cannot be read counts as an open door (nothing decided, the flap
  never moves);
- a jammed flap raises a fault, locks the door and records the deposit once as not
  accepted; the jam survives a restart, and the item is counted in the bin's contents
  (never as a second deposit) once the flap is seen working again.
"""

from __future__ import annotations

import logging
import secrets
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from agent.clock import Clock
from agent.hardware.devices import BinHardware, DeviceError, DeviceStatus, Image
from firmware_config.schema import Intake

log = logging.getLogger(__name__)

SAMPLE_PERIOD_S = 0.1
"""How often the tray is weighed while a deposit settles."""
FLAP_RETRIES = 2
"""Extra flap cycles tried before declaring a jam."""
CAMERA_TIMEOUT_S = 1.0
"""Longest wait for a photo: with the weight settled in about 0.4 s and inference in a
few ms, a capture that times out still leaves the decision within its 1.5 s budget."""
CAMERA_TIMEOUT_BOUNDS_S = (0.2, 1.0)
"""Allowed capture timeouts: shorter misses a slow camera's good frames, longer breaks
the decision budget."""


def camera_timeout(seconds: float) -> float:
    """A capture timeout checked against :data:`CAMERA_TIMEOUT_BOUNDS_S`."""
    low, high = CAMERA_TIMEOUT_BOUNDS_S
    if not low <= seconds <= high:
        raise ValueError(
            f"camera timeout {seconds:g} s is outside {low:g} to {high:g} s "
            "(the decision must come within 1.5 s of the door closing)"
        )
    return seconds


class ClassifierHealth:
    """The deposit classifier as a device the fault monitor watches.

    The contract's fault components have no ``classifier``: a failing model is reported
    as component ``camera`` (the vision path a technician looks at), code
    ``classifier_failed``, raised at the failure and cleared by the next good answer.
    """

    component = "camera"

    def __init__(self) -> None:
        self._status = DeviceStatus.ok()

    def status(self) -> DeviceStatus:
        """Failed since the last classifier exception, until an answer succeeds."""
        return self._status

    def failed(self, detail: str) -> None:
        """The classifier raised."""
        self._status = DeviceStatus("failed", "classifier_failed", detail[:200])

    def worked(self) -> None:
        """The classifier answered."""
        self._status = DeviceStatus.ok()


class Classification(Protocol):
    """What the intake needs of a classifier's answer."""

    @property
    def category(self) -> str:
        """The material, or ``unknown``."""
        ...

    @property
    def confidence(self) -> float:
        """0 to 1."""
        ...


class DepositClassifier(Protocol):
    """Anything that names the material of a photographed, weighed item."""

    @property
    def version(self) -> str:
        """Model version, reported in every deposit event."""
        ...

    def classify(self, image: Image, weight_g: float | None) -> Classification:
        """Classify one item photo, using the weight as a plausibility check."""
        ...


class Phase(StrEnum):
    """Where the machine is in a deposit."""

    IDLE = "idle"
    DOOR_OPEN = "door_open"
    SETTLING = "settling"
    JAMMED = "jammed"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one deposit, as recorded in ``events/deposit``."""

    deposit_id: str
    category: str
    confidence: float
    accepted: bool
    reason: str | None
    weight_g: float
    model: str
    decision_ms: float


@dataclass(frozen=True, slots=True)
class _Unknown:
    category: str = "unknown"
    confidence: float = 0.0


DecisionSink = Callable[[Decision], None]


class IntakeMachine:
    """Runs deposits on the device interfaces and reports each decision once."""

    def __init__(
        self,
        hardware: BinHardware,
        policy: Intake,
        classifier: DepositClassifier,
        on_decision: DecisionSink,
        *,
        clock: Clock,
        lock_requests: Callable[[str, bool], None],
        on_jam_cleared: Callable[[], None] = lambda: None,
        camera_timeout_s: float = CAMERA_TIMEOUT_S,
    ) -> None:
        self.clock = clock
        self.hardware = hardware
        self.policy = policy
        self.classifier = classifier
        self.on_decision = on_decision
        self.lock_requests = lock_requests
        self.on_jam_cleared = on_jam_cleared
        """Called once when a jammed flap works again (its item is now in the container)."""
        self.camera_timeout_s = camera_timeout(camera_timeout_s)
        self.classifier_health = ClassifierHealth()
        """The classifier's fault (component ``camera``), for the fault monitor."""
        self.phase = Phase.IDLE
        self._closed_at = 0.0
        self._weights: list[float] = []
        self.decided_at = 0.0
        """Monotonic time of the latest decision (before the flap moves)."""

    @property
    def busy(self) -> bool:
        """Whether a deposit is in progress (the fill sensor waits until it is not)."""
        return self.phase in (Phase.DOOR_OPEN, Phase.SETTLING)

    def _door_open(self) -> bool:
        """The door switch; a switch that cannot be read counts as open (fail-safe: no
        deposit is decided, no flap moves and no door locks on a door nobody can see)."""
        try:
            return self.hardware.door.is_open()
        except DeviceError as err:
            log.warning("door switch unreadable, taken as open: %s", err)
            return True

    def _weigh(self) -> float | None:
        try:
            weight = self.hardware.scale.read_g(self.policy.settle_samples)
        except DeviceError as err:
            log.warning("tray scale failed during a deposit: %s", err)
            return None
        return weight

    def step(self, now: float) -> float | None:
        """Advance the deposit; return when to be called again (None: only on events)."""
        if self.phase is Phase.IDLE:
            if not self._door_open():
                return None
            self.phase = Phase.DOOR_OPEN
            self.hardware.indicators.show(None)
            return now + SAMPLE_PERIOD_S
        if self.phase is Phase.DOOR_OPEN:
            if self._door_open():
                return now + SAMPLE_PERIOD_S
            self.phase = Phase.SETTLING
            self._closed_at = now
            self._weights = []
            return self._settle(now)
        if self.phase is Phase.SETTLING:
            if self._door_open():  # reopened before a decision: start over
                self.phase = Phase.DOOR_OPEN
                return now + SAMPLE_PERIOD_S
            return self._settle(now)
        return None  # JAMMED: waits for the flap to be fixed (see clear_jam)

    def _settle(self, now: float) -> float | None:
        """Weigh until N readings agree, then decide; an empty tray records nothing."""
        weight = self._weigh()
        if weight is None:
            # No scale: the beam tells whether an item lies on the tray, then the camera
            # alone decides (no weight limit, no weight plausibility; recorded as 0 g).
            if self._beam_clear():
                self.phase = Phase.IDLE
                return None
            return self._decide(None)
        self._weights.append(weight)
        window = self._weights[-self.policy.settle_readings :]
        stable = (
            len(window) == self.policy.settle_readings
            and max(window) - min(window) <= self.policy.settle_tolerance_g
        )
        settled = statistics.median(window)
        timed_out = now - self._closed_at >= self.policy.settle_timeout_s
        if (stable or timed_out) and settled < self.policy.min_item_g:
            # Opened and closed with nothing on the tray (or a rejected item taken back).
            self.phase = Phase.IDLE
            return None
        if stable:
            return self._decide(settled)
        if timed_out:
            self.decided_at = self.clock.monotonic()
            self._record(_Unknown(), settled, accepted=False, reason="weight_unstable")
            return self._show_reject()
        # The next reading one period after this one began (at once if the read itself
        # took longer, as an HX711 at 10 SPS does).
        return now + SAMPLE_PERIOD_S

    def _beam_clear(self) -> bool:
        """Whether the beam says the chamber is empty; a failed beam says nothing, and
        the item is then decided on the camera's word (it may be there)."""
        try:
            return not self.hardware.beam.is_broken()
        except DeviceError as err:
            log.warning("beam failed too: the camera alone decides: %s", err)
            return False

    def _capture(self) -> Image | None:
        try:
            return self.hardware.camera.capture(self.camera_timeout_s)
        except DeviceError as err:
            log.warning("camera failed during a deposit: %s", err)
            return None

    def _classify(self, image: Image | None, weight: float | None) -> Classification:
        """The classifier's answer; ``unknown`` without a photo or when it fails."""
        if image is None:
            return _Unknown()
        try:
            result = self.classifier.classify(image, weight)
        except Exception as err:  # any failure of the model: the deposit still gets decided
            log.exception("the classifier failed during a deposit")
            self.classifier_health.failed(f"{type(err).__name__}: {err}")
            return _Unknown()
        self.classifier_health.worked()
        return result

    def _decide(self, weight: float | None) -> float | None:
        image = self._capture()
        result = self._classify(image, weight)
        weight_g = max(weight or 0.0, 0.0)
        accepted, reason = self._policy(result, weight)
        self.decided_at = self.clock.monotonic()
        if accepted:
            return self._accept(result, weight_g)
        self._record(result, weight_g, accepted=False, reason=reason)
        return self._show_reject()

    def _policy(self, result: Classification, weight: float | None) -> tuple[bool, str | None]:
        policy = self.policy
        if weight is not None and weight > policy.max_item_g:
            return False, "too_heavy"
        if result.category == "unknown":
            if policy.unknown_policy == "accept":
                return True, None
            return False, "unclassified"
        if result.category not in policy.accepted_categories:
            return False, "category_not_accepted"
        if result.confidence < policy.min_confidence:
            return False, "low_confidence"
        return True, None

    def _accept(self, result: Classification, weight_g: float) -> float | None:
        for attempt in range(FLAP_RETRIES + 1):
            try:
                self.hardware.flap.drop()
                break
            except DeviceError as err:
                log.warning("flap attempt %d failed: %s", attempt + 1, err)
        else:
            # Locked (and the lock stored) before the deposit is recorded, so a restart
            # in between finds the jam. Recorded once, as not accepted: the item has not
            # reached the container; it is counted when the flap is seen working again.
            self.phase = Phase.JAMMED
            self.lock_requests("flap_jammed", True)
            self.hardware.indicators.show("red")
            self._record(result, weight_g, accepted=False, reason="flap_jammed")
            return None
        self._record(result, weight_g, accepted=True, reason=None)
        self.hardware.indicators.show("green")
        self.hardware.indicators.beep(0.1)
        self.phase = Phase.IDLE
        return None

    def _show_reject(self) -> float | None:
        """Red light; the door stays unlocked. When the consumer takes the item and
        closes the door, the tray settles empty and nothing more is recorded; if the
        item is left there, closing the door again is a new attempt."""
        self.hardware.indicators.show("red")
        self.hardware.indicators.beep(0.3)
        self.phase = Phase.IDLE
        return None

    def restore_jam(self) -> None:
        """Resume a jam stored before a restart: the item still waits on the tray, the
        door stays locked, and no door movement starts a deposit until it is cleared."""
        self.phase = Phase.JAMMED
        self.hardware.indicators.show("red")

    def clear_jam(self) -> bool:
        """Try the flap again (technician or remote command); unlock if it works.

        The flap counts as working when it cycles without an error and the tray is then
        empty (a scale that cannot be read leaves the flap's word). ``on_jam_cleared``
        is called before the door unlocks, so the jammed item is counted in the same
        stored state that unlocks the door.
        """
        if self.phase is not Phase.JAMMED:
            return True
        try:
            self.hardware.flap.drop()
        except DeviceError as err:
            log.warning("flap still jammed: %s", err)
            return False
        left = self._weigh()
        if left is not None and left >= self.policy.min_item_g:
            log.warning("flap cycled but %.0f g are still on the tray: still jammed", left)
            return False
        self.phase = Phase.IDLE
        self.on_jam_cleared()
        self.lock_requests("flap_jammed", False)
        self.hardware.indicators.show(None)
        return True

    def _record(
        self, result: Classification, weight_g: float, *, accepted: bool, reason: str | None
    ) -> Decision:
        decision = Decision(
            deposit_id=secrets.token_hex(8),
            category=result.category,
            confidence=round(min(max(result.confidence, 0.0), 1.0), 4),
            accepted=accepted,
            reason=reason,
            weight_g=round(weight_g, 1),
            model=self.classifier.version,
            decision_ms=round((self.decided_at - self._closed_at) * 1000.0, 1),
        )
        self.on_decision(decision)
        return decision
