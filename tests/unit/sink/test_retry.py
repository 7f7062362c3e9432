"""Bounded retries: transient failures are retried with growing pauses, others surface."""

from __future__ import annotations

import pytest

from nasaflow.sink.retry import call_with_retry


class Flaky:
    """Fails with `error` the first `failures` calls, then returns "done"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_transient_failures_are_retried_with_doubling_capped_pauses() -> None:
    pauses: list[float] = []
    action = Flaky(5, ConnectionError("refused"))
    result = call_with_retry(action, is_transient=lambda exc: True, budget_seconds=60,
                             first_delay=1, max_delay=4, sleep=pauses.append)
    assert result == "done"
    assert pauses == [1, 2, 4, 4, 4]


def test_a_failure_that_is_not_transient_surfaces_at_once() -> None:
    action = Flaky(1, ValueError("bug"))
    with pytest.raises(ValueError, match="bug"):
        call_with_retry(action, is_transient=lambda exc: isinstance(exc, ConnectionError),
                        budget_seconds=60, sleep=lambda seconds: None)
    assert action.calls == 1


def test_the_last_failure_surfaces_once_the_budget_is_spent() -> None:
    action = Flaky(1000, ConnectionError("down"))
    with pytest.raises(ConnectionError, match="down"):
        call_with_retry(action, is_transient=lambda exc: True, budget_seconds=0.3,
                        first_delay=0.05, max_delay=0.05)
    assert 2 <= action.calls <= 10
