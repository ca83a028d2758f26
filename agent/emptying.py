"""When a fall of the fill level means the container was emptied (``events/emptied``).

A full-size fall (``drop_pct``, 30 points by default) that ends at or below
``below_pct`` always counts. A crew answering an early pickup may empty a bin at 20 %,
which can never fall 30 points; so a smaller fall counts too when it is at least
``min_drop_pct`` (well above the fill sensor's noise of a few points) and leaves at
most half of the level before it. The runtime confirms the fall with a second reading,
and takes the level before it as one seen on two readings in a row, so a single wild
reading can neither make the peak nor the fall.
"""

from __future__ import annotations


def is_emptying(
    before: float, after: float, *, drop_pct: float, below_pct: float, min_drop_pct: float
) -> bool:
    """Whether the fill falling from ``before`` to ``after`` (percent) is an emptying."""
    if after > below_pct:
        return False
    drop = before - after
    return drop >= drop_pct or (drop >= min_drop_pct and after <= before / 2)
