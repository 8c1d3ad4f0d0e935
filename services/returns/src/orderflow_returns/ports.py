"""What the returns use cases need from storage: one small protocol per concern, grouped in
:class:`ReturnsRepositories` (what ``uow.repos`` holds).

The SQL implementations live in ``adapters/``; the unit tests' in-memory ones in
``tests/fakes.py``. Every method runs in the caller's unit of work (one transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

from orderflow_contracts.events import OrderPlaced, PostalAddress, WarrantyClaimFiled
from orderflow_contracts.money import Currency, Money

from orderflow_returns.domain.refunds import OrderSnapshot
from orderflow_returns.domain.returns import Delivery, EarlierReturn
from orderflow_returns.domain.rma import RmaState

# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class Rma:
    rma_id: uuid.UUID
    order_id: uuid.UUID
    return_request_id: str
    correlation_id: str
    state: RmaState
    return_by: date
    current_refund_id: uuid.UUID | None
    refund_attempts: int


@dataclass(frozen=True)
class PricedRefund:
    """What an RMA was priced at: the total, its shipping part, and the amount per SKU."""

    amount: Money
    shipping_refund: Money
    line_amounts: dict[str, Money]


@dataclass(frozen=True)
class RefundRecord:
    refund_id: uuid.UUID
    order_id: uuid.UUID
    rma_id: uuid.UUID | None
    origin: str  # 'rma' (we asked for it) or 'payment' (payment refunded on its own)
    state: str  # 'requested', 'issued' or 'failed'
    amount: Money
    failure_code: str | None = None  # a failed refund's RefundFailed reason code


@dataclass(frozen=True)
class RmaQuery:
    """Which RMAs ops want to see (every filter optional)."""

    state: RmaState | None = None
    order_id: uuid.UUID | None = None
    rma_id: uuid.UUID | None = None
    limit: int = 100


# ------------------------------------------------------------------------- repositories


class Orders(Protocol):
    """Facts about orders learnt from the other services: what was bought, delivered, paid."""

    async def lock(self, order_id: uuid.UUID) -> None:
        """Serialise every decision about one order until the unit of work ends."""
        ...

    async def lock_all(self, order_ids: Iterable[uuid.UUID]) -> None:
        """:meth:`lock` every order at once, in one global order (a batch's ``lock_ahead``):
        a later :meth:`lock` of one of them in the same unit of work costs nothing."""
        ...

    async def record_order(self, event: OrderPlaced, placed_at: datetime) -> bool:
        """Store the order as placed (one line per SKU); False when it was already known."""
        ...

    async def record_delivery(
        self,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        lines: Sequence[tuple[str, int]],
        delivered_at: datetime,
        *,
        replacement: bool,
    ) -> bool:
        """Store a delivered shipment; False when it was already known."""
        ...

    async def record_capture(
        self, order_id: uuid.UUID, payment_id: uuid.UUID, amount: Money
    ) -> bool:
        """Store a captured payment; False when it was already known."""
        ...

    async def customer_of(self, order_id: uuid.UUID) -> str | None:
        """The order's customer; None while ``OrderPlaced`` is unknown."""
        ...

    async def ordered_units(self, order_id: uuid.UUID) -> dict[str, int]:
        """Units ordered per SKU (empty while ``OrderPlaced`` is unknown)."""
        ...

    async def deliveries(self, order_id: uuid.UUID) -> list[Delivery]:
        """The order's delivered units the customer paid for (no replacements), oldest first."""
        ...

    async def snapshot(self, order_id: uuid.UUID) -> OrderSnapshot | None:
        """What the customer paid, line by line; None while ``OrderPlaced`` is unknown."""
        ...

    async def ship_to(self, order_id: uuid.UUID) -> PostalAddress:
        """The order's delivery address (the order must be known)."""
        ...

    async def captured(self, order_id: uuid.UUID, currency: Currency) -> Money | None:
        """What was captured for the order in ``currency``; None when no capture is known."""
        ...


class ReturnRequests(Protocol):
    """The answer given to each customer return request: one per (order, request id)."""

    async def known(self, order_id: uuid.UUID, request_id: str) -> bool: ...

    async def record(
        self,
        order_id: uuid.UUID,
        request_id: str,
        *,
        outcome: str,
        requested_at: datetime,
        decided_at: datetime,
        rma_id: uuid.UUID | None = None,
        reason_code: str | None = None,
        message: str | None = None,
    ) -> None: ...


RequestKind = Literal["return", "warranty_claim"]


@dataclass(frozen=True)
class HeldRequest:
    """A customer's request waiting for the delivery it is judged on (see
    ``handlers/held_requests.py``): its envelope as it came (JSON, read by the handler, which
    copes with one this version cannot read), and when the wait ends."""

    order_id: uuid.UUID
    kind: RequestKind
    request_id: str
    envelope_json: str
    held_until: datetime
    read_marks: Mapping[str, int] | None = None
    """Taken when the job first found it due (``orderflow_chassis.read_marks``)."""
    failures: int = 0
    """Judgements that failed for a reason that does not pass (``handlers/held_requests.py``)."""


HeldKey = tuple[uuid.UUID, RequestKind, str]
"""A held request's (order, kind, id)."""


class DeliveryReads(Protocol):
    """Marks on the topics deliveries and orders come on (``orderflow_chassis.read_marks``):
    a held request whose wait ended is judged once this service's consumer reached them."""

    @property
    def consumer(self) -> str:
        """The consumer group whose stored positions must reach the marks."""
        ...

    async def take(self) -> dict[str, int]:
        """The topics' end offsets now."""
        ...


class HeldRequests(Protocol):
    """Requests that found no delivery (or no order) yet: at most one per (order, kind, id)."""

    async def hold(self, request: HeldRequest) -> None:
        """Keep ``request``; a request already held keeps its first ``held_until``."""
        ...

    async def release(self, order_id: uuid.UUID) -> list[HeldRequest]:
        """Take (delete and return) every request held for the order, oldest wait first."""
        ...

    async def due(
        self, now: datetime, limit: int, *, after: tuple[datetime, HeldKey] | None = None
    ) -> list[tuple[HeldKey, Mapping[str, int] | None, datetime]]:
        """Up to ``limit`` requests whose wait ended by ``now``, ordered by (end of wait, key)
        and after ``after`` in that order, each with the read marks taken when it was first
        found due (None before that) and the end of its wait."""
        ...

    async def mark(self, keys: Sequence[HeldKey], marks: Mapping[str, int]) -> None:
        """Give ``marks`` to those of ``keys`` that have none yet."""
        ...

    async def read_positions(self, consumer: str) -> Mapping[str, int]:
        """``consumer``'s stored positions, keyed as read marks are."""
        ...

    async def take(
        self, order_id: uuid.UUID, kind: RequestKind, request_id: str
    ) -> HeldRequest | None:
        """Take (delete and return) one held request; None when it is no longer held."""
        ...

    async def postpone(
        self,
        order_id: uuid.UUID,
        kind: RequestKind,
        request_id: str,
        until: datetime,
        *,
        failed: bool = False,
    ) -> int:
        """Move a held request's end of wait to ``until`` (one that could not be judged),
        counting one more failure if ``failed``; how many it has had (0 if it is gone)."""
        ...


class Rmas(Protocol):
    """Return authorisations: their lines, the parcel that came back, what they refund."""

    async def create(
        self,
        *,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        request_id: str,
        correlation_id: str,
        reason: str,
        lines: Sequence[tuple[str, int]],
        authorised_at: datetime,
        return_by: date,
    ) -> None: ...

    async def get(self, rma_id: uuid.UUID, *, for_update: bool = False) -> Rma | None: ...

    async def in_state(self, order_id: uuid.UUID, state: RmaState) -> list[uuid.UUID]:
        """The order's RMAs in ``state``, oldest parcel first."""
        ...

    async def authorised_lines(self, rma_id: uuid.UUID) -> dict[str, int]: ...

    async def returned_lines(self, rma_id: uuid.UUID) -> dict[str, int]:
        """Units per SKU this RMA takes back (received, at most authorised), by SKU."""
        ...

    async def record_parcel(
        self,
        rma_id: uuid.UUID,
        *,
        warehouse_id: str,
        received_at: datetime,
        received: dict[str, int],
        damaged: dict[str, int],
        authorised: dict[str, int],
    ) -> None:
        """Store what came back and move the RMA to ``received``; units not authorised are
        recorded (0 authorised) but never returned for a refund."""
        ...

    async def set_state(
        self,
        rma_id: uuid.UUID,
        state: RmaState,
        *,
        at: datetime,
        problem: tuple[str, str] | None = None,
    ) -> None:
        """Move the RMA (``closed`` stamps ``at``); ``problem`` is (code, message) for ops."""
        ...

    async def record_pricing(
        self,
        rma_id: uuid.UUID,
        *,
        currency: Currency,
        line_amounts: dict[str, Money],
        amount: Money,
        shipping_refund: Money,
    ) -> None: ...

    async def priced_refund(self, rma_id: uuid.UUID) -> PricedRefund | None:
        """What the RMA was priced at; None when it never was."""
        ...

    async def refund_requested(
        self, rma_id: uuid.UUID, *, refund_id: uuid.UUID, attempt: int
    ) -> None:
        """The RMA waits for payment on ``refund_id`` (its problem, if any, is cleared)."""
        ...

    async def earlier_returns(self, order_id: uuid.UUID) -> list[EarlierReturn]:
        """Units per SKU taken back by each of the order's RMAs (authorised while the parcel is
        on its way, with the RMA's return-by date; then what actually came back), with the
        time the customer requested the return; in the order they were requested."""
        ...

    async def previously_refunded_units(
        self, order_id: uuid.UUID, excluding: uuid.UUID
    ) -> tuple[dict[str, int], bool]:
        """Units per SKU priced by the order's other RMAs, and whether one of them already
        carries the shipping fee."""
        ...


class Refunds(Protocol):
    """Refunds of an order: the ones we requested and the ones payment made on its own."""

    async def request(
        self,
        *,
        refund_id: uuid.UUID,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        attempt: int,
        amount: Money,
        shipping_refund: Money,
        at: datetime,
    ) -> None: ...

    async def get(
        self, refund_id: uuid.UUID, *, for_update: bool = False
    ) -> RefundRecord | None: ...

    async def ask_again(self, refund_id: uuid.UUID, *, at: datetime) -> None:
        """A failed refund requested again under its own id: pending once more."""
        ...

    async def settle(
        self,
        refund_id: uuid.UUID,
        state: str,
        *,
        at: datetime,
        failure: tuple[str, str] | None = None,
    ) -> None: ...

    async def record_external(
        self, refund_id: uuid.UUID, order_id: uuid.UUID, amount: Money, at: datetime
    ) -> None:
        """A refund payment issued that we did not request: it counts against the ceiling."""
        ...

    async def committed(self, order_id: uuid.UUID, currency: Currency) -> Money:
        """Refunds of the order requested or issued so far, and failed ones that may have been
        paid all the same (``REFUND_FAILURES_THAT_MAY_HAVE_PAID``); other failed ones excluded."""
        ...


class WarrantyClaims(Protocol):
    """Warranty claims and their answers; the units each accepted claim replaced."""

    async def known(self, order_id: uuid.UUID, claim_id: str) -> bool: ...

    async def claimed_units(self, order_id: uuid.UUID, sku: str) -> int:
        """Units of the order line already replaced under warranty."""
        ...

    async def record(
        self,
        claim: WarrantyClaimFiled,
        *,
        outcome: str,
        filed_at: datetime,
        decided_at: datetime,
        reason_code: str | None = None,
        message: str | None = None,
        term_months: int | None = None,
        warranty_ends_on: date | None = None,
        units: range = range(0),
    ) -> None: ...


class RmaReports(Protocol):
    """RMAs as ops read them (JSON-ready rows: lines, refund, problem)."""

    async def rmas(self, query: RmaQuery) -> list[dict[str, Any]]:
        """Matching RMAs, most recently changed first."""
        ...


@dataclass(frozen=True)
class ReturnsRepositories:
    orders: Orders
    return_requests: ReturnRequests
    held_requests: HeldRequests
    rmas: Rmas
    refunds: Refunds
    warranty_claims: WarrantyClaims
    reports: RmaReports
