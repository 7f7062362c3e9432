"""Retries with exponential backoff, for failures that go away by themselves.

A PostgreSQL restart or failover lasts seconds to minutes. Failing the streaming query at
the first refused connection would cost a driver restart (tens of seconds of JVM start)
for nothing. So a micro-batch is retried, within a time budget that may be unlimited
(math.inf: the stream's default, riding out an outage of any length), with pauses that
double up to a few seconds only: once the database is back, the next try comes within
`max_delay`, which is what bounds the recovery time after an outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def call_with_retry(action: Callable[[], T], *, is_transient: Callable[[BaseException], bool],
                    budget_seconds: float, first_delay: float = 1.0, max_delay: float = 5.0,
                    what: str = "call", sleep: Callable[[float], None] = time.sleep) -> T:
    """`action()`, tried again after transient failures until `budget_seconds` have passed.

    Args:
        action: the work; it must be safe to repeat after a failure.
        is_transient: whether a failure may succeed when tried again.
        budget_seconds: no new try starts after this long since the first (math.inf:
            keep trying).
        first_delay, max_delay: pause before the second try, doubling up to max_delay.
        what: names the work in log lines.
        sleep: how to pause (tests pass a recorder).

    Raises:
        The last failure, when it is not transient or the budget is spent.
    """
    deadline = time.monotonic() + budget_seconds
    delay = first_delay
    attempt = 1
    while True:
        try:
            return action()
        except Exception as exc:
            remaining = deadline - time.monotonic()
            if not is_transient(exc) or remaining <= 0:
                raise
            pause = min(delay, remaining)
            log.warning("%s failed (attempt %d, %s); retrying in %.1f s: %s", what, attempt,
                        type(exc).__name__, pause, _first_line(exc))
            sleep(pause)
            delay = min(delay * 2, max_delay)
            attempt += 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else repr(exc)
