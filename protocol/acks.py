"""The end-to-end acknowledgement's ranges, as both ends read and write them.

The bridge tells a bin which of its messages it has stored by naming their ``seq``
values as ``[first, last]`` ranges (the ``ack`` message, docs/protocol.md). Ranges and
not "everything up to N": a bin's ``seq`` stream has gaps (telemetry dropped by its
bounded outbox, messages a crashed broker lost), so the highest stored ``seq`` says
nothing of the ones below it. One batch of one bin is usually one contiguous range.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from protocol.messages import MAX_ACK_RANGES, Ack

SeqRanges = list[tuple[int, int]]


def seq_ranges(seqs: Iterable[int]) -> SeqRanges:
    """The fewest ``(first, last)`` ranges covering exactly ``seqs``, in order."""
    ranges: SeqRanges = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


def acks_for(seqs: Iterable[int], ts: datetime) -> list[Ack]:
    """The ``ack`` messages naming ``seqs``: one, or more when the ranges exceed one's bound."""
    ranges = seq_ranges(seqs)
    return [
        Ack(ranges=ranges[start : start + MAX_ACK_RANGES], ts=ts)
        for start in range(0, len(ranges), MAX_ACK_RANGES)
    ]


def covered(ranges: Iterable[tuple[int, int]]) -> int:
    """How many ``seq`` values the ranges name (overlaps counted twice)."""
    return sum(last - first + 1 for first, last in ranges)
