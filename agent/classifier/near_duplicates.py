"""Near-duplicate photos across the parts of the split.

A photo set such as TrashNet holds near-identical shots of one item (the same frame
saved twice, or taken again a moment later). When one copy lands in ``test`` and the
other in ``train`` or ``val``, the model has in effect seen that test photo, and the
held-out accuracy is flattered. Two copies of one photo filed under different classes
teach the model a contradiction.

The fingerprint of a photo is its *detail*: the photo in greyscale (Pillow's ``L``),
shrunk to 48 x 64 with Pillow's box filter, minus a Gaussian blur of itself (radius 4),
without a 4-pixel border, then centred and scaled to unit length. Two photos are near
duplicates when the correlation of their fingerprints (a dot product, 1.0 for the same
photo) is at least :data:`MIN_SIMILARITY`, or when their greyscale thumbnails are
identical.

Why not a plain difference hash (dHash, 256 bits): on ``trashnet-dev`` it fails both
ways. The tray's lighting gradient dominates photos of blank sheets and sticky notes,
so different near-blank items match at 12-16 bits (paper385 ~ paper498 at 12,
cardboard346 ~ paper385 at 13), while re-exposed copies of one item sit at 14-21 bits
(test paper185 ~ val paper390 at 14) or beyond 50 (paper240 ~ paper306). Subtracting
the blur removes the lighting and keeps what the item looks like.

Why 0.85: over all 2,043,231 pairs of ``trashnet-dev`` the similarities fall into two
groups with nothing between 0.789 and 0.897. Every pair at 0.897 or above (18 pairs,
looked at one by one) is one item in one pose; the highest pair below, at 0.79, is two
different bottle caps on the same tray. 0.85 is about the middle of that gap. The same
18 pairs, and no other, stay above the gap with a blur radius of 3 or 6 and thumbnails
of 36 x 48 or 72 x 96, so the result does not hang on these settings.
``docs/model-card.md`` lists the pairs.

What it misses: copies flipped, rotated or re-framed enough to move the detail. The
audit is a lower bound on leakage, not a proof of its absence.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageFilter, UnidentifiedImageError

from agent.classifier.dataset import SPLITS, Sample, Split
from agent.classifier.errors import ImageError

THUMBNAIL = (48, 64)
"""Width and height of the greyscale thumbnail a fingerprint is taken from."""
BLUR_RADIUS = 4.0
"""Gaussian blur (in thumbnail pixels) subtracted to remove lighting and keep detail."""
MARGIN = 4
"""Thumbnail pixels dropped at each border, where the blur is biased."""
MIN_SIMILARITY = 0.85
"""Correlation of two fingerprints from which two photos count as near duplicates."""

TRAINING_PARTS: dict[Split, tuple[Split, ...]] = {"test": ("train", "val"), "val": ("train",)}
"""For a part evaluated on, the parts a model may have been fitted or tuned on."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the audit compares of one photo."""

    detail: npt.NDArray[np.float32]
    """Unit-length high-pass thumbnail (zeros for a photo without detail)."""
    thumbnail_digest: str
    """SHA-256 of the greyscale thumbnail's pixels: equal for pixel-identical thumbnails."""


def fingerprint(picture: PILImage.Image) -> Fingerprint:
    """The fingerprint of one photo (any size or mode)."""
    grey = picture.convert("L").resize(THUMBNAIL, PILImage.Resampling.BOX)
    pixels = np.asarray(grey, dtype=np.float32)
    blurred = np.asarray(grey.filter(ImageFilter.GaussianBlur(BLUR_RADIUS)), dtype=np.float32)
    # The blur is biased near the borders (it pads): drop them, or the tray's lighting
    # gradient alone makes a pattern common to every photo.
    m = MARGIN
    detail = (pixels - blurred)[m:-m, m:-m].reshape(-1)
    detail -= detail.mean()
    norm = float(np.linalg.norm(detail))
    unit = detail / norm if norm > 1e-3 else np.zeros_like(detail)
    return Fingerprint(unit.astype(np.float32), hashlib.sha256(grey.tobytes()).hexdigest())


def fingerprint_file(path: Path, name: str | None = None) -> Fingerprint:
    """The fingerprint of a photo file; ImageError naming it when it cannot be read."""
    label = name or str(path)
    try:
        with PILImage.open(path) as picture:
            return fingerprint(picture)
    except FileNotFoundError as err:
        raise ImageError(f"{label}: file not found") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{label}: not a readable image ({err})") from err


def similarities(prints: Sequence[Fingerprint]) -> npt.NDArray[np.float32]:
    """The (n, n) matrix of fingerprint correlations, 1.0 where thumbnails are identical."""
    details = np.stack([p.detail for p in prints])
    matrix = details @ details.T
    digests = np.array([p.thumbnail_digest for p in prints])
    matrix[digests[:, None] == digests[None, :]] = 1.0
    clipped: npt.NDArray[np.float32] = np.clip(matrix, -1.0, 1.0)
    return clipped


@dataclass(frozen=True, slots=True)
class Pair:
    """Two near-duplicate photos, how alike they are, and the parts they are in."""

    first: Sample
    second: Sample
    similarity: float
    first_part: Split
    second_part: Split

    @property
    def contradictory(self) -> bool:
        """The two copies carry different labels."""
        return self.first.label != self.second.label


@dataclass(frozen=True, slots=True)
class Audit:
    """Every near-duplicate pair of a split, and the questions asked of them."""

    pairs: tuple[Pair, ...]
    min_similarity: float

    def twins_in(self, part: Split, others: Iterable[Split]) -> list[Pair]:
        """Pairs with one photo in ``part`` and the other in one of ``others``."""
        wanted = set(others)
        return [
            pair
            for pair in self.pairs
            if (pair.first_part == part and pair.second_part in wanted)
            or (pair.second_part == part and pair.first_part in wanted)
        ]

    def leaked(self, part: Split, others: Iterable[Split] | None = None) -> list[Sample]:
        """Photos of ``part`` with a near twin in ``others`` (default: its training parts).

        Sorted by relative path, each photo once however many twins it has.
        """
        against = TRAINING_PARTS.get(part, ()) if others is None else tuple(others)
        found: dict[str, Sample] = {}
        for pair in self.twins_in(part, against):
            mine = pair.first if pair.first_part == part else pair.second
            found[mine.relpath] = mine
        return [found[key] for key in sorted(found)]

    def contradictory(self) -> list[Pair]:
        """Near-duplicate pairs whose labels differ."""
        return [pair for pair in self.pairs if pair.contradictory]


def audit(split: Mapping[Split, Sequence[Sample]], min_similarity: float = MIN_SIMILARITY) -> Audit:
    """Fingerprint every photo of ``split`` and list the pairs at least ``min_similarity``."""
    if not 0.0 < min_similarity <= 1.0:
        raise ValueError(f"min_similarity must be within (0, 1], got {min_similarity}")
    entries = sorted(
        ((part, sample) for part in SPLITS for sample in split.get(part, ())),
        key=lambda entry: entry[1].relpath,
    )
    if len(entries) < 2:
        return Audit((), min_similarity)
    matrix = similarities([fingerprint_file(s.path, s.relpath) for _, s in entries])
    rows, cols = np.nonzero(np.triu(matrix >= min_similarity, k=1))
    pairs = [
        Pair(
            first=entries[i][1],
            second=entries[j][1],
            similarity=round(float(matrix[i, j]), 4),
            first_part=entries[i][0],
            second_part=entries[j][0],
        )
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
    ]
    pairs.sort(key=lambda p: (-p.similarity, p.first.relpath, p.second.relpath))
    return Audit(tuple(pairs), min_similarity)


def without_contradictions(
    samples: Sequence[Sample], found: Audit
) -> tuple[list[Sample], list[Pair]]:
    """``samples`` less every photo that has a near duplicate under another label among them.

    Both copies go: which label is right cannot be told from the photos. Returns the kept
    samples (order preserved) and the contradictory pairs that caused the drops.
    """
    present = {sample.relpath for sample in samples}
    pairs = [
        pair
        for pair in found.contradictory()
        if pair.first.relpath in present and pair.second.relpath in present
    ]
    dropped = {pair.first.relpath for pair in pairs} | {pair.second.relpath for pair in pairs}
    return [s for s in samples if s.relpath not in dropped], pairs
