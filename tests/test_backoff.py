"""The reconnect backoff of both ends: exponential, capped, jittered, reset on demand."""

from __future__ import annotations

import random

import pytest

from protocol.backoff import Backoff


def test_delays_double_up_to_the_cap_with_jitter() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(7))
    delays = [backoff.next_delay() for _ in range(8)]
    steps = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    for delay, step in zip(delays, steps, strict=True):
        assert step / 2 <= delay <= step
    assert len(set(delays)) == len(delays), "jitter makes every delay different"


def test_two_bridges_with_different_seeds_do_not_retry_in_lockstep() -> None:
    first = Backoff(1.0, 60.0, random.Random(1))
    second = Backoff(1.0, 60.0, random.Random(2))
    assert [first.next_delay() for _ in range(5)] != [second.next_delay() for _ in range(5)]


def test_reset_starts_from_the_shortest_delay() -> None:
    backoff = Backoff(1.0, 60.0, random.Random(3))
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 1.0


def test_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="minimum"):
        Backoff(5.0, 1.0, random.Random())
