"""Bounded, jittered re-runs of a command attempt on conflicts and transient store errors.

A conflict means someone else appended first: the attempt reads the new events and
re-decides, so it is retried quickly (short full-jitter waits). A transient error (timeout, server
unavailable) backs off longer. Both are bounded by `RetryPolicy`; the last error is
re-raised when the attempts run out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random,
    wait_random_exponential,
)

from orders.errors import ConcurrencyConflict, TransientStoreError
from orders.settings import RetryPolicy

_T = TypeVar("_T")
_log = structlog.get_logger("orders.retry")


@dataclass
class Tally:
    """What happened across the attempts of one command call."""

    conflicts: int = 0
    transient_errors: int = 0
    sent_event_ids: set[UUID] = field(default_factory=set)


def run_with_retries(attempt: Callable[[Tally], _T], policy: RetryPolicy) -> _T:
    """Run `attempt` until it returns, re-running it as `policy` allows.

    The first attempt runs bare (most commands never conflict, and the retry machinery
    costs more than the decision); after a retryable failure the next attempt follows at
    once, and later ones wait as the policy says. Attempts are counted from the first.
    """
    tally = Tally()
    try:
        return attempt(tally)
    except _RETRYABLE as error:
        _note(tally, error, 1)
    return _retrying(policy, tally)(attempt, tally)


_RETRYABLE = (ConcurrencyConflict, TransientStoreError)


def _retrying(policy: RetryPolicy, tally: Tally) -> Retrying:
    conflict_wait = wait_random_exponential(
        multiplier=policy.conflict_wait_base, max=policy.conflict_wait_max
    )
    transient_wait = wait_exponential(
        multiplier=policy.transient_wait_initial, max=policy.transient_wait_max
    ) + wait_random(0, 0.1)

    def is_conflict(state: RetryCallState) -> bool:
        return state.outcome is not None and isinstance(
            state.outcome.exception(), ConcurrencyConflict
        )

    def stop(state: RetryCallState) -> bool:
        limit = policy.conflict_attempts if is_conflict(state) else policy.transient_attempts
        return state.attempt_number + 1 >= limit  # + the bare first attempt

    def wait(state: RetryCallState) -> float:
        return conflict_wait(state) if is_conflict(state) else transient_wait(state)

    def before_sleep(state: RetryCallState) -> None:
        if state.outcome is not None:
            _note(tally, state.outcome.exception(), state.attempt_number + 1)

    return Retrying(
        retry=retry_if_exception_type(_RETRYABLE),
        stop=stop,
        wait=wait,
        before_sleep=before_sleep,
        reraise=True,
    )


def _note(tally: Tally, error: BaseException | None, attempt: int) -> None:
    if isinstance(error, ConcurrencyConflict):
        tally.conflicts += 1
        _log.info("order.conflict_retried", attempt=attempt, error=str(error))
    else:  # a warning, so a user waiting on a down server sees it is being retried
        tally.transient_errors += 1
        _log.warning(
            "order.transient_retried",
            message="the event store is not answering; retrying",
            attempt=attempt,
            error=str(error),
        )
