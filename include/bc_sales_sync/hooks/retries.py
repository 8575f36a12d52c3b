"""When and how long a hook tries again: one policy for whole requests and for the operations of a batch.

A 429 waits as long as ``Retry-After`` says; 5xx statuses and dropped connections back off
exponentially with jitter; a request that may have been half done is sent again only when it is
idempotent. Every call stays inside ``max_retry_seconds`` and ``max_attempts``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TypeVar

import tenacity

from include.bc_sales_sync.hooks.exceptions import ConnectionDropped, DynamicsApiError, RateLimited, TransientError
from include.bc_sales_sync.hooks.settings import ConnectionSettings

T = TypeVar("T")
Op = TypeVar("Op")
R = TypeVar("R")

# Replaying these cannot create a second record: GET/HEAD read, PUT/PATCH set values on a known
# key (our PATCHes are upserts with deterministic ids), DELETE removes a known key. POST may create.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# 503 means "not processed, come back later" and 429 is rejected before any work, so even a
# non-idempotent request may be sent again; 500/502/504 may have been half done.
RETRY_ALWAYS = frozenset({429, 503})
RETRY_IF_IDEMPOTENT = frozenset({408, 500, 502, 504})


def retryable(error: BaseException, idempotent: bool) -> bool:
    """Whether a request that failed with ``error`` may be sent again.

    :param idempotent: whether sending the request twice is harmless.
    """
    if not isinstance(error, TransientError):
        return False
    if not error.sent or isinstance(error, RateLimited):
        return True
    if isinstance(error, ConnectionDropped):
        return idempotent
    if error.status in RETRY_ALWAYS:
        return True
    return idempotent and (error.status in RETRY_IF_IDEMPOTENT or error.status is None)


def retryable_status(status: int, method: str) -> bool:
    """Whether a batch operation answered ``status`` was not carried out and may simply be sent again."""
    return status in RETRY_ALWAYS or (status in RETRY_IF_IDEMPOTENT and method.upper() in IDEMPOTENT_METHODS)


class RetryMixin:
    """:meth:`with_retries` for one call and :meth:`retry_operations` for the operations of a batch.

    For a hook with ``settings``, ``log``, ``service_name``, a ``retry_count`` and replaceable
    ``_sleep`` and ``_clock`` (so tests can assert waits without spending them).
    """

    settings: ConnectionSettings
    service_name: str
    log: logging.Logger
    retry_count: int
    _sleep: Callable[[float], None]
    _clock: Callable[[], float]

    #: Exponential backoff without ``Retry-After``: first wait, ceiling, and random jitter added (seconds).
    backoff_initial = 1.0
    backoff_max = 30.0
    backoff_jitter = 1.0

    def with_retries(self, fn: Callable[[], T], *, idempotent: bool, what: str) -> T:
        """Call ``fn`` until it succeeds, retrying retryable :class:`DynamicsApiError` as described in
        :meth:`~include.bc_sales_sync.hooks.base.DynamicsHttpHook.request`. Raises the last error,
        annotated with the attempts made, when giving up.

        :param fn: one attempt.
        :param idempotent: whether ``fn`` may be repeated after an unclear failure.
        :param what: how log lines name the call.
        """
        settings = self.settings
        start = self._clock()

        def wait(state: tenacity.RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            retry_after = getattr(error, "retry_after", None)
            if retry_after is not None:
                # Honour the service's wait; a wait beyond the budget makes ``stop`` give up now.
                return min(float(retry_after), settings.max_retry_seconds + 1)
            return self._backoff(state.attempt_number)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= settings.max_attempts:
                return True
            return (self._clock() - start) + state.upcoming_sleep > settings.max_retry_seconds

        def before_sleep(state: tenacity.RetryCallState) -> None:
            self.retry_count += 1
            error = state.outcome.exception() if state.outcome else None
            reason = (
                f"HTTP {error.status} {type(error).__name__}"
                if isinstance(error, DynamicsApiError) and error.status
                else type(error).__name__
            )
            self.log.warning(
                "%s %s: %s; retry %d of %d in %.1f s.",
                self.service_name,
                what,
                reason,
                state.attempt_number,
                settings.max_attempts - 1,
                state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: retryable(exc, idempotent)),
            wait=wait,
            stop=stop,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        attempts = 0

        def counted() -> T:
            nonlocal attempts
            attempts += 1
            return fn()

        try:
            return retrying(counted)
        except DynamicsApiError as error:
            # Only a retryable error can end the loop by exhausting the budget: say how hard we tried.
            if retryable(error, idempotent):
                error.attempts = attempts
                error.retry_seconds = self._clock() - start
                error.retry_budget = settings.max_retry_seconds
            raise

    def retry_operations(
        self,
        items: list[Op],
        send: Callable[[list[Op]], list[R]],
        retry_after: Callable[[Op, R], float | bool | None],
        *,
        what: str,
    ) -> list[R]:
        """Send ``items`` (the operations of one batch) and send again those whose own result was
        throttled or failed temporarily, until none is left or the retry budget is spent.

        :param items: the operations.
        :param send: sends a list of operations, returns their results in the same order.
        :param retry_after: per (operation, result): ``False`` when done (success or a lasting
            failure); otherwise the seconds the service asked to wait, or ``None`` for backoff.
        :param what: how log lines name the batch.
        :return: one result per operation, in order; operations still failing keep their last result.
        """
        settings = self.settings
        results = send(items)
        start = self._clock()
        attempt = 1
        while True:
            pending: list[int] = []
            waits: list[float] = []
            for index, (item, result) in enumerate(zip(items, results, strict=True)):
                decision = retry_after(item, result)
                if decision is False:
                    continue
                pending.append(index)
                if decision is not None and decision is not True:
                    waits.append(float(decision))
            if not pending:
                return results
            wait = max(waits) if waits else self._backoff(attempt)
            if attempt >= settings.max_attempts or (self._clock() - start) + wait > settings.max_retry_seconds:
                self.log.warning(
                    "%s %s: %d operation(s) still throttled or failing after %d attempt(s) over %.0f s "
                    "(max_attempts=%d, max_retry_seconds=%g); reporting them as failed.",
                    self.service_name,
                    what,
                    len(pending),
                    attempt,
                    self._clock() - start,
                    settings.max_attempts,
                    settings.max_retry_seconds,
                )
                for index in pending:
                    result = results[index]
                    if hasattr(result, "error_message"):
                        result.error_message = (
                            f"{result.error_message or 'Temporary failure'} (gave up after {attempt} attempt(s); "
                            "it is retried on the next run)"
                        )
                return results
            self.retry_count += 1
            self.log.warning(
                "%s %s: %d of %d operation(s) throttled or failed temporarily; sending them again in %.1f s "
                "(attempt %d of %d).",
                self.service_name,
                what,
                len(pending),
                len(items),
                wait,
                attempt + 1,
                settings.max_attempts,
            )
            self._sleep(wait)
            again = send([items[i] for i in pending])
            for index, result in zip(pending, again, strict=True):
                results[index] = result
            attempt += 1

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)) + random.uniform(0, self.backoff_jitter)
