"""Log-spaced histograms with fixed buckets, so histograms from any minute or process merge exactly.

Bucket 0 holds zero. Bucket i > 0 covers magnitudes [1e-3 * 10**((i-1)/20), 1e-3 * 10**(i/20)),
20 per decade up to 1e9; bucket -i mirrors it for negative values. Magnitudes outside that range
land in the end buckets. A bucket's representative value is its geometric middle, so any value
is reported within 10**(1/40) - 1 ≈ 5.9 % of itself.
"""
import math
from collections.abc import Iterable
from itertools import chain

BUCKETS_PER_DECADE = 20
MIN_MAGNITUDE = 1e-3
MAX_MAGNITUDE = 1e9
# Highest bucket index: 12 decades of 20 buckets each.
TOP_INDEX = round(math.log10(MAX_MAGNITUDE / MIN_MAGNITUDE)) * BUCKETS_PER_DECADE
RELATIVE_ERROR = 10 ** (1 / (2 * BUCKETS_PER_DECADE)) - 1
_LOG_OFFSET = -math.log10(MIN_MAGNITUDE)


def bucket_index(value: float) -> int:
    """Return the bucket index of `value`: 0 for zero, negative for negative values."""
    if value > 0:
        return _magnitude_index(value)
    if value < 0:
        return -_magnitude_index(-value)
    if value == 0:
        return 0
    raise ValueError("NaN has no bucket")


def _magnitude_index(magnitude: float) -> int:
    # The range checks come first: log10(inf) would overflow int(), and they cost less than the log.
    if magnitude < MIN_MAGNITUDE:
        return 1
    if magnitude >= MAX_MAGNITUDE:
        return TOP_INDEX
    return min(int((math.log10(magnitude) + _LOG_OFFSET) * BUCKETS_PER_DECADE) + 1, TOP_INDEX)


def bucket_value(index: int) -> float:
    """Return the representative (geometric middle) value of bucket `index`."""
    if index == 0:
        return 0.0
    magnitude = MIN_MAGNITUDE * 10 ** ((abs(index) - 0.5) / BUCKETS_PER_DECADE)
    return magnitude if index > 0 else -magnitude


class LogHistogram:
    """A sparse count per bucket; `record` costs one log10 and one dict update."""

    __slots__ = ("counts", "count")

    def __init__(self, counts: dict[int, int] | None = None) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        if counts:
            self.merge_counts(counts)

    def record(self, value: float, count: int = 1) -> None:
        """Count `value` (`count` times)."""
        index = bucket_index(value)
        self.counts[index] = self.counts.get(index, 0) + count
        self.count += count

    def merge(self, other: "LogHistogram") -> "LogHistogram":
        """Add `other`'s counts to this histogram, in place; returns self."""
        return self.merge_counts(other.counts)

    def merge_counts(self, counts: dict[int, int]) -> "LogHistogram":
        """Add raw bucket counts (index -> count) to this histogram, in place; returns self."""
        for index, count in counts.items():
            if count:
                self.counts[index] = self.counts.get(index, 0) + count
                self.count += count
        return self

    def percentile(self, q: float) -> float | None:
        """Return the nearest-rank `q`th percentile (q in 0..100) as a bucket value; None when empty."""
        return self.percentiles([q])[0]

    def percentiles(self, qs: list[float]) -> list[float | None]:
        """Return several percentiles with one sort of the buckets."""
        for q in qs:
            if not 0 <= q <= 100:
                raise ValueError(f"percentile must be within 0..100, not {q}")
        if not self.count:
            return [None] * len(qs)
        ordered = sorted(self.counts.items())
        return [bucket_value(_index_at_rank(ordered, _rank(q, self.count))) for q in qs]

    def to_dict(self) -> dict[str, int]:
        """Return the counts as JSON-safe {bucket index as string: count}."""
        return {str(index): count for index, count in self.counts.items() if count}

    @classmethod
    def from_dict(cls, data: dict[str, int]) -> "LogHistogram":
        """Rebuild a histogram from `to_dict` output (keys may be strings or ints)."""
        return cls({int(index): int(count) for index, count in data.items()})

    def __repr__(self) -> str:
        return f"LogHistogram(count={self.count}, buckets={len(self.counts)})"


def int_counts(data: dict | None) -> dict[int, int]:
    """Bucket counts keyed by index: stored JSON has string keys, a histogram already decoded has ints."""
    if not data or isinstance(next(iter(data)), int):
        return data or {}
    return {int(index): count for index, count in data.items()}


def percentile_across(counts: Iterable[dict[int, int]], q: float) -> float | None:
    """The `q`th percentile of several histograms' counts (bucket index: count) taken together, without building
    their merged histogram: the percentile sorts the buckets anyway, and repeated indexes add up as it walks."""
    ordered = sorted(chain.from_iterable(part.items() for part in counts))
    total = sum(count for _, count in ordered)
    return bucket_value(_index_at_rank(ordered, _rank(q, total))) if total else None


def _rank(q: float, total: int) -> int:
    # Nearest rank: the smallest value with at least q % of all values at or below it.
    return max(1, math.ceil(q * total / 100))


def _index_at_rank(ordered: list[tuple[int, int]], rank: int) -> int:
    # Bucket indexes sort in the same order as the values they hold, negatives included.
    seen = 0
    for index, count in ordered:
        seen += count
        if seen >= rank:
            return index
    return ordered[-1][0]
