"""When a fall of the fill level means the container was emptied: one rule for both ends.

The bin reports ``events/emptied`` when it sees its container emptied; the bridge
collects an open pickup when the fill it receives falls, even without that event (an
old agent, a lost event), and a forecast starts its series afresh at an emptying. All
three ask the same question with the parameters each needs:

- A full-size fall (``drop_pct``, 30 points by default) that ends at or below
  ``below_pct`` always counts.
- A crew answering an early pickup may empty a bin at 20 %, which can never fall 30
  points; so where ``min_drop_pct`` is given (the bin's rule), a smaller fall counts too
  when it is at least ``min_drop_pct`` (well above the fill sensor's noise of a few
  points) and leaves at most half of the level before it.

Each caller confirms the fall with further readings in its own way (the bin with a
second reading, the bridge with ``emptied_confirm_readings``, the forecast with
readings in a row) and takes the level before it from readings that one wild value
cannot make (a level seen twice, a running median), so that a single wild reading can
neither make the peak nor the fall.
"""

from __future__ import annotations


def is_emptying(
    before: float,
    after: float,
    *,
    drop_pct: float,
    below_pct: float,
    min_drop_pct: float | None = None,
) -> bool:
    """Whether the fill falling from ``before`` to ``after`` (percent) is an emptying."""
    if after > below_pct:
        return False
    drop = before - after
    if drop >= drop_pct:
        return True
    return min_drop_pct is not None and drop >= min_drop_pct and after <= before / 2
