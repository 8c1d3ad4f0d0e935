"""Provider calls: retried with backoff while the provider is unavailable, and never concluded
as "nothing done" while an earlier call with the same idempotency key may have been done
(decision 61); a refusal of such a key is raised as ``ProviderRefusedAfterUnknown``, so that
the caller says the earlier call may have been done (decision 78)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import structlog
from orderflow_chassis.retry import Backoff, call_with_retry

from orderflow_payment.domain.providers import (
    ProviderKeyReused,
    ProviderRefusedAfterUnknown,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
)
from orderflow_payment.settings import PaymentSettings

log = structlog.get_logger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class UnknownOutcomes:
    """Idempotency keys a call of which may have been done by the provider without an answer
    (a timeout, say). A later "certainly nothing done" failure (a 503) says nothing of that
    earlier call, so such a key is never concluded. An answer does not clear the mark: it
    belongs to a transaction that may still roll back (a later call of the same batch fails),
    and the retry must still know the key may have moved money. Kept in the process, bounded:
    a restart, or the partition moving to another instance between two attempts, forgets it
    (reconciliation still reports a hold or refund left)."""

    def __init__(self, capacity: int = 10_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self._capacity:
            self._keys.popitem(last=False)

    def forget(self, key: str) -> None:
        """What a restart does (tests)."""
        self._keys.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._keys


UNKNOWN_OUTCOMES: Final = UnknownOutcomes()


async def call_provider(
    operation: str,
    key: str,
    call: Callable[[], Awaitable[T]],
    *,
    settings: PaymentSettings,
    sleep: Sleep,
) -> T:
    """``call()`` with the idempotency ``key``, retried while the provider is unavailable; its
    last failure is raised, marked ``outcome_unknown`` if any call with the key may have been
    done (in these attempts or earlier ones, see :class:`UnknownOutcomes`)."""
    backoff = Backoff(
        attempts=settings.provider_retry_attempts,
        initial_delay_s=settings.provider_retry_initial_delay_s,
        max_delay_s=settings.provider_retry_max_delay_s,
    )

    def on_retry(attempt: int, error: BaseException, pause_s: float) -> None:
        if isinstance(error, ProviderUnavailable) and error.outcome_unknown:
            UNKNOWN_OUTCOMES.add(key)
        log.warning(
            "provider.transient_failure",
            operation=operation,
            attempt=attempt,
            error=str(error),
            retry_in_s=round(pause_s, 3),
        )

    try:
        answer = await call_with_retry(
            call,
            backoff,
            retry_if=lambda error: isinstance(error, ProviderUnavailable),
            on_retry=on_retry,
            sleep=sleep,
        )
    except ProviderKeyReused:
        raise  # refused before the provider saw it: nothing of any earlier call to conclude
    except ProviderRejected as error:
        if key in UNKNOWN_OUTCOMES:  # a refusal says nothing of the earlier, unanswered call
            raise ProviderRefusedAfterUnknown(error.code, error.detail) from error
        raise
    except ProviderUnavailable as error:
        log.warning(
            "provider.gave_up",
            operation=operation,
            attempts=settings.provider_retry_attempts,
            error=str(error),
        )
        if error.outcome_unknown or key in UNKNOWN_OUTCOMES:
            UNKNOWN_OUTCOMES.add(key)
            raise ProviderUnavailable(error.kind, error.detail, after_unknown=True) from error
        raise
    if (
        isinstance(answer, ProviderResult)
        and not answer.approved
        and not answer.conclusive
        and key in UNKNOWN_OUTCOMES
    ):
        # A decline is a refusal written as an answer (a card processor's 402, PayPal's 422):
        # it says nothing of the earlier, unanswered call either.
        raise ProviderRefusedAfterUnknown(
            answer.decline_code or "declined", answer.message or "declined", declined=True
        )
    return answer
