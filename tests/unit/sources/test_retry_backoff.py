"""Backoff of the retry policy: full jitter under an exponential, capped ceiling."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nasaflow.sources.http import RetryPolicy


@given(st.integers(min_value=1, max_value=40))
def test_backoff_stays_within_zero_and_the_capped_exponential(retry: int) -> None:
    policy = RetryPolicy()
    wait = policy.backoff(retry)
    assert 0.0 <= wait <= min(60.0, 2.0 ** retry)


def test_backoff_ceiling_doubles_then_caps() -> None:
    policy = RetryPolicy(jitter=lambda upper: upper)
    assert [policy.backoff(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_backoff_base_scales_the_ceiling() -> None:
    policy = RetryPolicy(jitter=lambda upper: upper, backoff_base=0.01)
    assert policy.backoff(3) == 0.08
