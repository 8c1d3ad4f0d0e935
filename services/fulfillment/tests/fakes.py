"""Fulfillment in memory, for use-case tests without PostgreSQL or Kafka.

The in-memory repositories (``fake_stock``, ``fake_orders``) keep the rules their SQL twins
rely on the database for, so a use case that would break them in production breaks them here
too. Everything is plain data: ``FakeTransactions`` deep-copies it to roll a failed block back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from orderflow_chassis.clock import SettableClock
from orderflow_chassis.testing import FakeTransactions, RecordingEmitter, envelope_of
from orderflow_chassis.unit_of_work import UnitOfWork
from orderflow_contracts.events import Event
from orderflow_fulfillment.ports import FulfillmentRepositories

from services.fulfillment.tests.fake_orders import (
    InMemoryAnomalies,
    InMemoryOrders,
    InMemoryReplacements,
    InMemoryRmas,
    InMemoryShipments,
    RecordedLockAhead,
)
from services.fulfillment.tests.fake_stock import InMemoryStock

T = TypeVar("T")

__all__ = [
    "FakeFulfillment",
    "InMemoryAnomalies",
    "InMemoryOrders",
    "InMemoryReplacements",
    "InMemoryRmas",
    "InMemoryShipments",
    "InMemoryStock",
    "RecordedLockAhead",
    "fake_transactions",
    "in_memory_repositories",
]


def in_memory_repositories() -> FulfillmentRepositories:
    return FulfillmentRepositories(
        stock=InMemoryStock(),
        orders=InMemoryOrders(),
        shipments=InMemoryShipments(),
        replacements=InMemoryReplacements(),
        rmas=InMemoryRmas(),
        anomalies=InMemoryAnomalies(),
        locks=RecordedLockAhead(),
    )


def fake_transactions(
    clock: SettableClock | None = None,
) -> FakeTransactions[FulfillmentRepositories]:
    return FakeTransactions(in_memory_repositories(), clock or SettableClock())


def _as(kind: type[T], repository: object) -> T:
    assert isinstance(repository, kind), f"{type(repository).__name__} is not a {kind.__name__}"
    return repository


@dataclass
class FakeFulfillment:
    """Fulfillment's state in memory, with typed views of its fakes for tests.

    The views read through ``transactions.repos`` each time: a rolled-back ``begin()`` block
    restores a copy, and old references would show the state it threw away.
    """

    transactions: FakeTransactions[FulfillmentRepositories] = field(
        default_factory=fake_transactions
    )

    @property
    def clock(self) -> SettableClock:
        return _as(SettableClock, self.transactions.clock)

    @property
    def emitted(self) -> RecordingEmitter:
        return self.transactions.emitted

    @property
    def stock(self) -> InMemoryStock:
        return _as(InMemoryStock, self.transactions.repos.stock)

    @property
    def orders(self) -> InMemoryOrders:
        return _as(InMemoryOrders, self.transactions.repos.orders)

    @property
    def shipments(self) -> InMemoryShipments:
        return _as(InMemoryShipments, self.transactions.repos.shipments)

    @property
    def replacements(self) -> InMemoryReplacements:
        return _as(InMemoryReplacements, self.transactions.repos.replacements)

    @property
    def rmas(self) -> InMemoryRmas:
        return _as(InMemoryRmas, self.transactions.repos.rmas)

    @property
    def anomalies(self) -> InMemoryAnomalies:
        return _as(InMemoryAnomalies, self.transactions.repos.anomalies)

    @property
    def locks(self) -> RecordedLockAhead:
        return _as(RecordedLockAhead, self.transactions.repos.locks)

    def unit(
        self, event: Event, *, correlation_id: str = "journey-1"
    ) -> UnitOfWork[FulfillmentRepositories]:
        """The unit of work the consumer would hand a handler of ``event``."""
        return self.transactions.unit(cause=envelope_of(event, correlation_id=correlation_id))
