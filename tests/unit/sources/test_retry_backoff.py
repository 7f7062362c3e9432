"""Backoff of the retry policy, as urllib3's Retry computes it: none before the first
retry, then an exponential with additive jitter, capped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from urllib3.util.retry import Retry

from nasaflow.sources.http import RetryPolicy, SourceRetry


def _after(retry: Retry, failures: int) -> Retry:
    for _ in range(failures):
        retry = retry.increment("GET", "/", error=OSError("cut"))
    return retry


@given(st.integers(min_value=2, max_value=4), st.floats(min_value=0.0, max_value=5.0))
def test_backoff_is_the_exponential_plus_at_most_the_jitter(failures: int,
                                                            jitter: float) -> None:
    retry = SourceRetry.of(RetryPolicy(backoff_jitter=jitter), set())
    wait = _after(retry, failures).get_backoff_time()
    assert 2.0 ** (failures - 1) <= wait <= 2.0 ** (failures - 1) + jitter


def test_backoff_doubles_then_caps() -> None:
    policy = RetryPolicy(max_attempts=9, backoff_jitter=0.0, backoff_max=60.0)
    retry = SourceRetry.of(policy, set())
    assert [_after(retry, n).get_backoff_time() for n in range(1, 9)] == [
        0, 2, 4, 8, 16, 32, 60, 60]
