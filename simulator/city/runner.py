"""``bin-sim city``: every policy on the same seeded city, and the figures side by side.

The world is built once per process from its seed (building it again gives the same
world), then each policy runs on it (:func:`simulator.city.sim.run_policy`). With
``jobs`` = 2 the bridge-backed ``revloop``, by far the dearest, runs in a second process
while this one runs the others, so a 2-core machine does both at once; the figures do
not depend on it.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from dataclasses import dataclass, field
from typing import Any

from simulator.city.metrics import PolicyOutcome
from simulator.city.policies import POLICIES
from simulator.city.sim import Progress, RunOptions, run_policy
from simulator.city.world import CityWorld, WorldOptions, build_world

DEAR = "revloop"
"""The policy worth a process of its own."""


@dataclass(frozen=True, slots=True)
class CityOptions:
    """A city run: the world, how it is run, which policies, on how many processes."""

    world: WorldOptions = field(default_factory=WorldOptions)
    run: RunOptions = field(default_factory=RunOptions)
    policies: tuple[str, ...] = tuple(POLICIES)
    jobs: int = 2


@dataclass
class CityResult:
    """Every policy's outcome on one city."""

    options: CityOptions
    outcomes: dict[str, PolicyOutcome]
    wall_s: float
    world_s: float

    def summaries(self) -> dict[str, dict[str, Any]]:
        """Each policy's figures, in the order the policies were asked for."""
        return {name: self.outcomes[name].summary() for name in self.options.policies}

    @property
    def bin_days(self) -> float:
        """Bins times simulated days (warm-up included)."""
        return self.options.world.bins * self.options.world.days


def run_city(options: CityOptions, progress: Progress | None = None) -> CityResult:
    """Build the city and run the policies on it."""
    unknown = [name for name in options.policies if name not in POLICIES]
    if unknown:
        raise ValueError(f"unknown policies: {', '.join(unknown)} (known: {', '.join(POLICIES)})")
    began = time.perf_counter()
    outcomes: dict[str, PolicyOutcome] = {}
    child: _Child | None = None
    if options.jobs > 1 and DEAR in options.policies and len(options.policies) > 1:
        child = _Child(options)
    world = build_world(options.world)
    world_s = time.perf_counter() - began
    tell = progress or (lambda name, days: None)
    try:
        for name in options.policies:
            if child is not None and name == DEAR:
                continue
            outcomes[name] = run_policy(world, POLICIES[name], options.run, _polling(tell, child))
        if child is not None:
            outcomes[DEAR] = child.result(tell)
            child = None
    finally:
        if child is not None:
            child.stop()
    return CityResult(options, outcomes, time.perf_counter() - began, world_s)


def _polling(tell: Progress, child: _Child | None) -> Progress:
    """A progress callback that also passes on the child's progress."""

    def report(name: str, days: float) -> None:
        tell(name, days)
        if child is not None:
            child.poll(tell)

    return report


def _run_one(options: CityOptions, name: str, messages: Any) -> None:
    """The child process: build the same world, run one policy, send the outcome back."""
    world: CityWorld = build_world(options.world)
    try:
        outcome = run_policy(
            world, POLICIES[name], options.run, lambda n, days: messages.put(("progress", n, days))
        )
    except BaseException as err:  # noqa: BLE001 - handed to the parent, which raises it
        messages.put(("error", name, f"{type(err).__name__}: {err}"))
        return
    messages.put(("done", name, outcome))


class _Child:
    """``revloop`` in a process of its own; its progress and outcome come by a queue."""

    def __init__(self, options: CityOptions) -> None:
        context = multiprocessing.get_context("fork")
        self._messages: Any = context.Queue()
        self._process = context.Process(
            target=_run_one, args=(options, DEAR, self._messages), name="city-revloop"
        )
        self._process.start()
        self._outcome: PolicyOutcome | None = None
        self._error: str | None = None

    def poll(self, tell: Progress, timeout: float | None = None) -> None:
        """Pass on what the child said (waiting up to ``timeout`` for the first word)."""
        block = timeout is not None
        while True:
            try:
                kind, name, payload = self._messages.get(block=block, timeout=timeout)
            except queue.Empty:
                return
            block = False
            if kind == "progress":
                tell(name, payload)
            elif kind == "done":
                self._outcome = payload
            else:
                self._error = payload

    def result(self, tell: Progress) -> PolicyOutcome:
        """Wait for the child's outcome."""
        while self._outcome is None and self._error is None:
            if not self._process.is_alive() and self._messages.empty():
                raise RuntimeError(f"the {DEAR} process died (exit code {self._process.exitcode})")
            self.poll(tell, timeout=1.0)
        self._process.join()
        if self._error is not None:
            raise RuntimeError(f"{DEAR} failed: {self._error}")
        assert self._outcome is not None
        return self._outcome

    def stop(self) -> None:
        """End the child (the run failed elsewhere)."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
