import json
import math
import random

import pytest

from services.monitoring.histogram import (
    MAX_MAGNITUDE,
    MIN_MAGNITUDE,
    RELATIVE_ERROR,
    TOP_INDEX,
    LogHistogram,
    bucket_index,
    bucket_value,
)

UNIFORM_MS = list(range(1, 1001))
# A long-tailed latency sample, fixed by its seed so the numbers never move.
LOGNORMAL_MS = [random.Random(42).lognormvariate(3, 1.2) for _ in range(5000)]
MIXED = [-250.0, -3.5, -0.01, 0.0, 0.0, 0.02, 1.0, 17.0, 4e5, 9e8]


def exact_percentile(values, q):
    """Nearest rank on the sorted data: what the histogram approximates."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered) / 100)) - 1]


def histogram_of(values):
    histogram = LogHistogram()
    for value in values:
        histogram.record(value)
    return histogram


def test_relative_error_is_about_six_percent():
    assert RELATIVE_ERROR == pytest.approx(0.0593, abs=1e-4)


@pytest.mark.parametrize("value", [
    MIN_MAGNITUDE, 0.0123, 0.5, 1.0, 7.5, 999.0, 123_456.0, 5e8, 0.999 * MAX_MAGNITUDE,
    -MIN_MAGNITUDE, -0.5, -1.0, -30_000.0, -5e8,
])
def test_a_bucket_value_is_within_the_relative_error_of_the_values_in_it(value):
    represented = bucket_value(bucket_index(value))
    assert abs(represented - value) <= abs(value) * (RELATIVE_ERROR + 1e-9)
    assert math.copysign(1, represented) == math.copysign(1, value)


def test_every_value_in_range_is_represented_within_the_relative_error():
    values = [MIN_MAGNITUDE * 10 ** (step / 1000) for step in range(12_000)]
    worst = max(abs(bucket_value(bucket_index(value)) - value) / value for value in values)
    assert worst <= RELATIVE_ERROR + 1e-9


def test_zero_has_its_own_bucket():
    assert bucket_index(0.0) == 0
    assert bucket_index(-0.0) == 0
    assert bucket_value(0) == 0.0


@pytest.mark.parametrize("value", [1e-3, 0.07, 1.0, 42.0, 3e7])
def test_negative_values_mirror_positive_ones(value):
    assert bucket_index(-value) == -bucket_index(value)
    assert bucket_value(-bucket_index(value)) == -bucket_value(bucket_index(value))


@pytest.mark.parametrize("value, index", [
    (1e-9, 1), (5e-324, 1), (MIN_MAGNITUDE, 1),
    (MAX_MAGNITUDE, TOP_INDEX), (1e15, TOP_INDEX), (math.inf, TOP_INDEX),
    (-1e-9, -1), (-1e15, -TOP_INDEX), (-math.inf, -TOP_INDEX),
])
def test_values_outside_the_range_clamp_to_the_end_buckets(value, index):
    assert bucket_index(value) == index


def test_twenty_buckets_per_decade_over_twelve_decades():
    assert TOP_INDEX == 240
    assert bucket_index(10.0) - bucket_index(1.0) == 20


def test_nan_has_no_bucket():
    with pytest.raises(ValueError):
        bucket_index(math.nan)


def test_bucket_indexes_sort_like_the_values():
    values = sorted(MIXED + [-1e12, 1e12] + [10 ** (step / 7) for step in range(-25, 70)])
    indexes = [bucket_index(value) for value in values]
    assert indexes == sorted(indexes)


@pytest.mark.parametrize("q, expected", [(50, 500), (95, 950), (99, 990), (100, 1000), (0, 1)])
def test_percentiles_of_uniform_milliseconds(q, expected):
    assert histogram_of(UNIFORM_MS).percentile(q) == pytest.approx(expected, rel=0.07)


@pytest.mark.parametrize("data", [UNIFORM_MS, LOGNORMAL_MS, MIXED], ids=["uniform", "lognormal", "mixed"])
@pytest.mark.parametrize("q", [1, 10, 50, 90, 95, 99, 99.9])
def test_percentiles_are_within_bucket_error_of_exact_ones(data, q):
    exact = exact_percentile(data, q)
    estimate = histogram_of(data).percentile(q)
    assert abs(estimate - exact) <= abs(exact) * (RELATIVE_ERROR + 1e-9)


def test_percentiles_computes_several_at_once():
    histogram = histogram_of(UNIFORM_MS)
    assert histogram.percentiles([50, 95, 99]) == [histogram.percentile(q) for q in (50, 95, 99)]


def test_negative_zero_and_positive_values_share_one_histogram():
    histogram = histogram_of([-5.0] * 10 + [0.0] * 10 + [5.0] * 10)
    assert histogram.count == 30
    assert histogram.percentile(10) == pytest.approx(-5.0, rel=RELATIVE_ERROR)
    assert histogram.percentile(50) == 0.0
    assert histogram.percentile(90) == pytest.approx(5.0, rel=RELATIVE_ERROR)


def test_an_empty_histogram_has_no_percentile():
    assert LogHistogram().count == 0
    assert LogHistogram().percentile(50) is None
    assert LogHistogram().percentiles([50, 99]) == [None, None]


@pytest.mark.parametrize("q", [-1, 100.5, 1000])
def test_percentile_outside_0_to_100_is_refused(q):
    with pytest.raises(ValueError):
        histogram_of([1.0]).percentile(q)


def test_record_with_a_count_equals_repeated_records():
    weighted = LogHistogram()
    weighted.record(12.0, count=5)
    assert weighted.count == 5
    assert weighted.to_dict() == histogram_of([12.0] * 5).to_dict()


def test_merge_equals_the_histogram_of_the_concatenated_data():
    first, second = LOGNORMAL_MS[:1700], LOGNORMAL_MS[1700:] + MIXED
    merged = histogram_of(first).merge(histogram_of(second))
    whole = histogram_of(first + second)
    assert merged.to_dict() == whole.to_dict()
    assert merged.count == len(first) + len(second)
    assert merged.percentiles([50, 95, 99]) == whole.percentiles([50, 95, 99])


def test_merge_leaves_the_other_histogram_alone():
    other = histogram_of([1.0, 2.0])
    histogram_of([3.0]).merge(other)
    assert other.count == 2
    assert other.to_dict() == histogram_of([1.0, 2.0]).to_dict()


def test_to_dict_is_sparse_json_with_string_keys_and_round_trips():
    histogram = histogram_of(MIXED + [17.0])
    data = histogram.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert all(isinstance(key, str) for key in data)
    assert data[str(bucket_index(17.0))] == 2
    assert sum(data.values()) == len(MIXED) + 1
    assert len(data) == len({bucket_index(value) for value in MIXED})
    restored = LogHistogram.from_dict(json.loads(json.dumps(data)))
    assert restored.to_dict() == data
    assert restored.count == histogram.count
    assert restored.percentiles([1, 50, 99]) == histogram.percentiles([1, 50, 99])


def test_constructor_takes_integer_bucket_counts():
    histogram = LogHistogram({bucket_index(8.0): 3, 0: 1})
    assert histogram.count == 4
    assert histogram.percentile(100) == pytest.approx(8.0, rel=RELATIVE_ERROR)
    assert histogram.percentile(25) == 0.0
