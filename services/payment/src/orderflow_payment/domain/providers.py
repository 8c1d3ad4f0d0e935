"""The port every payment provider sits behind, and the idempotency keys it is called with.

A provider adapter (sandbox, card processor, PayPal...) implements :class:`PaymentProvider`.
Every call carries an idempotency key derived from the *fact* that caused it (the order, the
payment, the refund), never from a message id: the same fact may arrive in two messages, and a
retried call with the same key returns the original answer instead of moving money again.

Outcomes: an approved or declined :class:`ProviderResult` is an answer; a transient failure
(timeout, 5xx, connection refused) raises :class:`ProviderUnavailable` and may be retried with
the same key. A request the provider can never accept raises :class:`ProviderRejected`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final, Protocol

from orderflow_contracts.money import Money

from orderflow_payment.domain.tokens import mask_token

# uuid5 namespace for ids payment mints from other ids (the refund of a cancelled order).
PAYMENT_NAMESPACE = uuid.UUID("8d8f3c55-0a5e-4b8e-9f5b-2f6f0c1d7a10")


def payment_id_for(order_id: uuid.UUID) -> uuid.UUID:
    """One payment per order, with an id every retry and instance agrees on."""
    return uuid.uuid5(PAYMENT_NAMESPACE, f"payment:{order_id}")


def authorisation_key(order_id: uuid.UUID) -> str:
    """One authorisation per order, ever: the key is the order."""
    return f"authorise:{order_id}"


def capture_key(payment_id: uuid.UUID) -> str:
    return f"capture:{payment_id}"


def void_key(payment_id: uuid.UUID) -> str:
    return f"void:{payment_id}"


def refund_key(refund_id: uuid.UUID) -> str:
    """Refunds are keyed by the requester's refund id (RefundRequested.refund_id)."""
    return f"refund:{refund_id}"


def cancellation_refund_id(order_id: uuid.UUID) -> uuid.UUID:
    """The refund id of "the order was cancelled after capture": the same for every delivery."""
    return uuid.uuid5(PAYMENT_NAMESPACE, f"order-cancelled:{order_id}")


def cancellation_refund_key(order_id: uuid.UUID, refunded: Money) -> str:
    """A cancelled order's refund asks for what is left of the capture, under a key that
    names what was refunded before it: a refund issued between two attempts (the first then
    never reached the provider, whose ceiling would have refused the other) leaves less to
    ask for, a request of its own (decision 100). Nothing refunded before: the refund id's."""
    key = refund_key(cancellation_refund_id(order_id))
    return key if refunded.is_zero else f"{key}:after:{refunded.minor_units}"


@dataclass(frozen=True)
class Authorise:
    idempotency_key: str
    order_id: uuid.UUID
    amount: Money
    method: str
    token: str

    def __repr__(self) -> str:  # never print a token in full, not even in a traceback
        return (
            f"Authorise(idempotency_key={self.idempotency_key!r}, order_id={self.order_id}, "
            f"amount={self.amount}, method={self.method!r}, token={mask_token(self.token)!r})"
        )


@dataclass(frozen=True)
class Capture:
    idempotency_key: str
    order_id: uuid.UUID
    authorisation_reference: str
    amount: Money


@dataclass(frozen=True)
class Void:
    idempotency_key: str
    order_id: uuid.UUID
    authorisation_reference: str
    amount: Money


@dataclass(frozen=True)
class Refund:
    idempotency_key: str
    order_id: uuid.UUID
    capture_reference: str
    amount: Money


@dataclass(frozen=True)
class ProviderCall:
    """A provider call as the journal of calls keeps it: what makes two calls under one
    idempotency key the same request (never the token)."""

    idempotency_key: str
    operation: str
    order_id: uuid.UUID
    parent_reference: str | None  # the authorisation a capture or void acts on, or capture
    amount: Money

    @classmethod
    def of(cls, operation: str, request: Authorise | Capture | Void | Refund) -> ProviderCall:
        parent = (
            request.authorisation_reference
            if isinstance(request, Capture | Void)
            else request.capture_reference
            if isinstance(request, Refund)
            else None
        )
        return cls(request.idempotency_key, operation, request.order_id, parent, request.amount)

    def describe(self) -> str:
        return f"a {self.operation} of {self.amount} for order {self.order_id}"


@dataclass(frozen=True)
class ProviderResult:
    """The provider's answer. ``reference`` is its id for the operation (approved or not)."""

    approved: bool
    reference: str | None
    decline_code: str | None = None
    message: str = ""
    conclusive: bool = False
    """A decline that says what became of the money (an authorisation undone by the adapter):
    it concludes an earlier, unanswered call with the same key too, where any other decline
    only refuses this request (``ProviderRefusedAfterUnknown``)."""

    @classmethod
    def approve(cls, reference: str) -> ProviderResult:
        return cls(True, reference)

    @classmethod
    def decline(cls, code: str, message: str, reference: str | None = None) -> ProviderResult:
        return cls(False, reference, code, message)

    @classmethod
    def undone(cls, code: str, message: str, reference: str | None) -> ProviderResult:
        """A decline after the adapter undid what the provider did (see ``conclusive``)."""
        return cls(False, reference, code, message, conclusive=True)


NOTHING_DONE_KINDS: Final = frozenset(
    {
        "connection_failed",
        "http_503",
        "http_429",
        "http_401",
        "http_403",
        "http_407",
        "http_421",
        "http_425",
        "redirected",
        "no_route",
        "auth_failed",
    }
)
"""Failures after which the provider certainly did nothing: the request never reached it, or
it refused to start (unavailable, rate limited, our credentials or their permissions refused
or not obtained, our egress proxy's authentication refused).
After any other (a timeout, a 500, a request with the same key still in flight) it may have
moved the money and only the answer is lost."""


class ProviderUnavailable(Exception):
    """A transient failure: the same call (same key) may succeed later."""

    def __init__(self, kind: str, detail: str = "", *, after_unknown: bool = False) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self._after_unknown = after_unknown

    @property
    def outcome_unknown(self) -> bool:
        """Whether the provider may have done the work (see ``NOTHING_DONE_KINDS``), in this
        call or an earlier one with the same key (``after_unknown``): then only asking again
        with the same key can tell, and nothing may be concluded before."""
        return self._after_unknown or self.kind not in NOTHING_DONE_KINDS


class ProviderRejected(Exception):
    """The provider refuses the request itself (unknown reference, bad state): never retry."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ProviderKeyReused(ProviderRejected):
    """An idempotency key asked for another request than the one first sent under it (a
    refund_id reused for another order or amount). Refused before it reaches the provider,
    which would answer the first request's answer (or refuse the key), and that answer would
    be recorded as this request's."""

    def __init__(self, earlier: ProviderCall, asked: ProviderCall) -> None:
        super().__init__(
            "idempotency_key_reused",
            f"{asked.idempotency_key} was first sent for {earlier.describe()}; "
            f"this is {asked.describe()}",
        )
        self.earlier = earlier
        self.asked = asked


class ProviderRefusedAfterUnknown(ProviderRejected):
    """The provider refused (or declined: ``declined``) a call whose idempotency key had an
    earlier call with no answer (a timeout, say). The refusal is the provider's answer and
    asking again gets it again, but it says nothing of the earlier call, which may have been
    done: the caller concludes without assuming either way, and tells ops to check with the
    provider."""

    def __init__(self, code: str, detail: str, *, declined: bool = False) -> None:
        super().__init__(code, detail)
        self.declined = declined


class UnknownProvider(LookupError):
    """No provider is configured for a payment method, or under a stored provider name."""


class ProviderCallJournal(Protocol):
    """Refund calls, written down before they are made and kept whatever becomes of the
    transaction that asked for them (a crash may lose the answer, never the call)."""

    async def record(self, call: ProviderCall) -> ProviderCall | None:
        """Write ``call`` down, committed at once; the call first written under its key, if
        one was (it may be another request)."""
        ...


class PaymentProvider(Protocol):
    """What the payment service needs from a provider. Adapters live in ``adapters/``."""

    @property
    def name(self) -> str:
        """Stable name recorded with each payment (``sandbox``, ``card-processor``...)."""
        ...

    async def authorise(self, request: Authorise) -> ProviderResult: ...

    async def capture(self, request: Capture) -> ProviderResult: ...

    async def void(self, request: Void) -> ProviderResult: ...

    async def refund(self, request: Refund) -> ProviderResult: ...
