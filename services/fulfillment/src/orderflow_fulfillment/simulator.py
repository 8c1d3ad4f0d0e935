"""A warehouse system played over Kafka, for demos and end-to-end tests.

It knows only the public contract: it reads ``FulfillmentRequested`` (topic ``fulfillment``)
and ``ReturnAuthorized`` (topic ``returns``) and publishes on ``warehouse.events``:
``ParcelDispatched`` (carrier, tracking number) after ``dispatch_delay_s``, ``ParcelDelivered``
after a further ``delivery_delay_s``, and, for each RMA, ``ReturnParcelReceived`` after
``return_delay_s`` with each unit found damaged with probability ``damaged_ratio``. It has no
database; its consumer group is its own.

It behaves like a well-mannered real warehouse system, so it doubles as a reference:

* messages are keyed by shipment id (parcels) and RMA id (returns) and published in order per
  key by an idempotent producer; envelopes carry ``sequence`` 1, 2 per shipment;
* event ids are derived from the shipment or RMA id (uuid5), so re-sending after a restart
  produces the same events, which Orderflow drops as duplicates;
* a request read twice (Kafka delivers at least once: a relay that lost its lease may publish a
  ``FulfillmentRequested`` again) ships one parcel: a parcel already dispatched is never
  dispatched again after its delivery, which would put its sequence 1 after its 2;
* a request's offset is committed only once its parcel is delivered, so a simulator stopped
  mid-way resumes its unfinished parcels when it starts again;
* a publish the broker does not acknowledge (down, a leader moving) is sent again, with
  backoff, until it is: the parcel waits for the broker instead of being dropped until a
  restart (a copy that did land is dropped by Orderflow as a duplicate: same event id).

Use it in-process (``async with WarehouseSimulator(...)``) or with
``orderflow-fulfillment warehouse-simulator``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import uuid
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from orderflow_chassis.errors import kafka_may_pass
from orderflow_chassis.kafka_security import kafka_client_options
from orderflow_chassis.outbox import (
    PRODUCER_REQUEST_TIMEOUT_S,
    create_producer,
    envelope_headers,
    start_producer,
    stop_producer,
)
from orderflow_chassis.retry import Backoff, call_with_retry
from orderflow_chassis.waiting import cancel_and_wait, wait_at_most
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.errors import ContractError
from orderflow_contracts.events import (
    Event,
    FulfillmentRequested,
    LineQuantity,
    ParcelDelivered,
    ParcelDispatched,
    ReturnAuthorized,
    ReturnedLine,
    ReturnParcelReceived,
    StockCounted,
)

from orderflow_fulfillment.simulator_progress import Offsets, RequestsTakenOn
from orderflow_fulfillment.simulator_routes import Routes

log = structlog.get_logger(__name__)

EVENT_ID_NAMESPACE = uuid.UUID("7d9c1f0e-5a4b-4c3d-8e2f-1a0b9c8d7e6f")
_TASKS_END_AT_STOP_S = 10.0
_KAFKA_AT_STOP_S = 5.0
# Until the broker takes it: a demo parcel must not vanish on a broker restart.
_PUBLISH_BACKOFF = Backoff(attempts=None, initial_delay_s=0.2, max_delay_s=5.0)


DEFAULT_GROUP = "orderflow.warehouse-simulator"


@dataclass(frozen=True)
class SimulatorConfig:
    warehouses: frozenset[str] = frozenset()
    """Warehouse ids this simulator plays; empty means every warehouse."""
    dispatch_delay_s: float = 1.0
    delivery_delay_s: float = 2.0
    receive_returns: bool = True
    """Answer each ReturnAuthorized with a returned parcel."""
    return_delay_s: float = 2.0
    damaged_ratio: float = 0.0
    default_return_warehouse: str | None = None
    """Where returns go when the simulator did not ship the order itself."""
    carrier: str = "SimPost"
    group_id: str | None = None
    """Its Kafka consumer group; default ``orderflow.warehouse-simulator``, plus the warehouses
    it plays when it plays only some (see :attr:`consumer_group`)."""

    @property
    def consumer_group(self) -> str:
        """Simulators playing different warehouses must not share a group: each would be
        given part of the requests, skip the other warehouses' and commit past them, and
        those shipments would never leave."""
        if self.group_id:
            return self.group_id
        played = "+".join(sorted(self.warehouses))
        return f"{DEFAULT_GROUP}.{played}" if played else DEFAULT_GROUP

    def __post_init__(self) -> None:
        if not 0.0 <= self.damaged_ratio <= 1.0:
            raise ValueError("damaged_ratio must be between 0 and 1")
        if min(self.dispatch_delay_s, self.delivery_delay_s, self.return_delay_s) < 0:
            raise ValueError("delays cannot be negative")


def tracking_number_for(shipment_id: uuid.UUID) -> str:
    # The id's last digits: shipment ids are time-ordered (UUID version 7), and their first
    # twelve are the millisecond they were made, shared by an order's shipments.
    return f"SIM{shipment_id.hex[-12:].upper()}"


def sort_returned_units(
    rma_id: uuid.UUID, lines: Sequence[LineQuantity], damaged_ratio: float
) -> list[ReturnedLine]:
    """Each unit is damaged with probability ``damaged_ratio``, decided by a generator seeded
    with the RMA id: the same RMA always comes back in the same condition."""
    chance = random.Random(str(rma_id))  # noqa: S311 - a simulation, not security
    sorted_lines: list[ReturnedLine] = []
    for line in lines:
        damaged = sum(1 for _ in range(line.quantity) if chance.random() < damaged_ratio)
        if line.quantity - damaged:
            sorted_lines.append(
                ReturnedLine(sku=line.sku, quantity=line.quantity - damaged, condition="resellable")
            )
        if damaged:
            sorted_lines.append(ReturnedLine(sku=line.sku, quantity=damaged, condition="damaged"))
    return sorted_lines


class WarehouseSimulator:
    def __init__(
        self,
        bootstrap_servers: str,
        *,
        topic_prefix: str = "",
        config: SimulatorConfig | None = None,
    ) -> None:
        self.config = config or SimulatorConfig()
        self._bootstrap = bootstrap_servers
        self._prefix = topic_prefix
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: Any = None
        self._loop_task: asyncio.Task[None] | None = None
        self._work: set[asyncio.Task[None]] = set()
        self._offsets = Offsets()
        self._taken_on = RequestsTakenOn()
        self._stop = asyncio.Event()
        self.tasks_left_running: list[str] = []  # given up on: the process ends around them
        # order id -> {sku: warehouse that shipped it}, to route returns (memory only).
        self._routes = Routes()
        self.dispatched: list[ParcelDispatched] = []
        self.delivered: list[ParcelDelivered] = []
        self.returned: list[ReturnParcelReceived] = []

    @property
    def duplicates(self) -> list[uuid.UUID]:
        """Shipments and RMAs requested again, each time, in the order they were read."""
        return self._taken_on.duplicates

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._producer = create_producer(self._bootstrap, client_id="warehouse-simulator")
        await start_producer(self._producer, timeout_s=PRODUCER_REQUEST_TIMEOUT_S)
        self._consumer = AIOKafkaConsumer(
            self._prefix + topics.FULFILLMENT,
            self._prefix + topics.RETURNS,
            bootstrap_servers=self._bootstrap,
            group_id=self._prefix + self.config.consumer_group,
            client_id="warehouse-simulator",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=5_000,
            **kafka_client_options(),
        )
        await self._consumer.start()
        self._loop_task = asyncio.create_task(self._consume(), name="warehouse-simulator")
        log.info(
            "warehouse_simulator.started",
            warehouses=sorted(self.config.warehouses) or "all",
            topic_prefix=self._prefix,
        )

    async def stop(self) -> None:
        """Stop reading; parcels in progress are abandoned uncommitted and resume on restart."""
        tasks = [t for t in [self._loop_task, *self._work] if t is not None]
        still_running = await cancel_and_wait(tasks, bound_s=_TASKS_END_AT_STOP_S)
        if still_running:  # the consumer and producer must close all the same
            log.error("warehouse_simulator.tasks_would_not_stop", tasks=still_running)
            self.tasks_left_running += still_running
        if self._consumer is not None:
            # aiokafka retries a commit for as long as the coordinator is away: bounded, what
            # is not committed is redone by the next simulator (idempotent event ids).
            with contextlib.suppress(KafkaError, TimeoutError):
                await wait_at_most(_KAFKA_AT_STOP_S, self._commit())
            with contextlib.suppress(KafkaError, TimeoutError):
                await wait_at_most(_KAFKA_AT_STOP_S, self._consumer.stop())
        if self._producer is not None:
            await stop_producer(self._producer, flush_s=_KAFKA_AT_STOP_S)
        log.info("warehouse_simulator.stopped")

    async def __aenter__(self) -> WarehouseSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def run_until_stopped(self) -> None:
        """Start, run until SIGINT/SIGTERM, then stop cleanly."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stop.set)
        await self.start()
        assert self._loop_task is not None
        consuming = self._loop_task
        try:
            stopped = asyncio.create_task(self._stop.wait())
            await asyncio.wait({stopped, consuming}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
        finally:
            await self.stop()
        crashed = consuming.exception() if consuming.done() and not consuming.cancelled() else None
        if crashed is not None:
            # Reading stopped on its own: say why, and end the process with that failure.
            log.error("warehouse_simulator.crashed", error=repr(crashed))
            raise crashed

    # ------------------------------------------------------------------------ consuming

    async def _consume(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    self._offsets.begin(tp, record.offset)
                    work = self._work_for(record)
                    if work is None:
                        self._offsets.done(tp, record.offset)
                    else:
                        self._spawn(work, tp, record.offset)
            await self._commit()

    def _spawn(self, work: Awaitable[None], tp: TopicPartition, offset: int) -> None:
        async def run() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("warehouse_simulator.work_failed", topic=tp.topic, offset=offset)
                # Left pending: the offset stays uncommitted and the request is redone on restart.
                return
            self._offsets.done(tp, offset)

        task = asyncio.create_task(run())
        self._work.add(task)
        task.add_done_callback(self._work.discard)

    async def _commit(self) -> None:
        assert self._consumer is not None
        positions = self._offsets.to_commit(set(self._consumer.assignment()))
        if not positions:
            return
        try:
            await self._consumer.commit(positions)
        except KafkaError as error:  # a rebalance took the partition: its next owner redoes it
            log.warning("warehouse_simulator.commit_failed", error=str(error))
            return
        self._offsets.committed.update(positions)

    def _work_for(self, record: ConsumerRecord) -> Awaitable[None] | None:
        try:
            envelope = Envelope.from_bytes(record.value or b"")
            event = envelope.parse_event()
        except ContractError as error:
            log.warning("warehouse_simulator.unreadable", topic=record.topic, error=error.reason)
            return None
        if isinstance(event, FulfillmentRequested):
            # Every request is remembered, the other warehouses' too: a return goes back to
            # the warehouse that shipped it, whichever simulator plays that one.
            self._routes.remember(event)
            if not self._plays(event.warehouse_id):
                return None
            return self._taken_on.once(event.shipment_id, lambda: self._ship(event, envelope))
        if isinstance(event, ReturnAuthorized) and self.config.receive_returns:
            try:
                warehouse = self.return_warehouse(event.order_id, event.lines)
            except LookupError:
                warehouse = None  # decided (and logged) when the parcel is sent
            if warehouse is not None and not self._plays(warehouse):
                return None  # another simulator's warehouse receives it
            return self._taken_on.once(
                event.rma_id, lambda: self._return_after_delay(event, envelope)
            )
        return None

    def _plays(self, warehouse_id: str) -> bool:
        return not self.config.warehouses or warehouse_id in self.config.warehouses

    # --------------------------------------------------------------------------- parcels

    async def _ship(self, request: FulfillmentRequested, envelope: Envelope) -> None:
        self._routes.remember(request)
        await asyncio.sleep(self.config.dispatch_delay_s)
        dispatched = ParcelDispatched(
            shipment_id=request.shipment_id,
            warehouse_id=request.warehouse_id,
            carrier=self.config.carrier,
            tracking_number=tracking_number_for(request.shipment_id),
            dispatched_at=datetime.now(UTC),
        )
        await self._publish(dispatched, envelope, producer=request.warehouse_id, sequence=1)
        self.dispatched.append(dispatched)
        await asyncio.sleep(self.config.delivery_delay_s)
        delivered = ParcelDelivered(shipment_id=request.shipment_id, delivered_at=datetime.now(UTC))
        await self._publish(delivered, envelope, producer=request.warehouse_id, sequence=2)
        self.delivered.append(delivered)

    async def _return_after_delay(self, event: ReturnAuthorized, envelope: Envelope) -> None:
        await asyncio.sleep(self.config.return_delay_s)
        await self.receive_return(
            event.rma_id, event.lines, order_id=event.order_id, cause=envelope
        )

    def return_warehouse(self, order_id: uuid.UUID | None, lines: Sequence[LineQuantity]) -> str:
        """Where a return goes: the warehouse that shipped most of its units, else the
        configured default, else the only warehouse played."""
        return self._routes.return_warehouse(
            order_id,
            lines,
            default=self.config.default_return_warehouse,
            played=self.config.warehouses,
        )

    async def receive_return(
        self,
        rma_id: uuid.UUID,
        lines: Sequence[LineQuantity],
        *,
        order_id: uuid.UUID | None = None,
        warehouse_id: str | None = None,
        damaged_ratio: float | None = None,
        cause: Envelope | None = None,
    ) -> ReturnParcelReceived:
        """A customer's parcel for ``rma_id`` arrived: inspect it and report it now."""
        ratio = self.config.damaged_ratio if damaged_ratio is None else damaged_ratio
        received = ReturnParcelReceived(
            rma_id=rma_id,
            warehouse_id=warehouse_id or self.return_warehouse(order_id, lines),
            lines=sort_returned_units(rma_id, lines, ratio),
            received_at=datetime.now(UTC),
        )
        await self._publish(received, cause, producer=received.warehouse_id, sequence=1)
        self.returned.append(received)
        return received

    async def count_stock(self, warehouse_id: str, sku: str, on_hand: int) -> StockCounted:
        """Report a physical count (not keyed to a request: its event id is random)."""
        counted = StockCounted(
            warehouse_id=warehouse_id, sku=sku, on_hand=on_hand, counted_at=datetime.now(UTC)
        )
        await self._publish(counted, None, producer=warehouse_id, sequence=None, stable_id=False)
        return counted

    async def _publish(
        self,
        event: Event,
        cause: Envelope | None,
        *,
        producer: str,
        sequence: int | None,
        stable_id: bool = True,
    ) -> None:
        event_id = (
            uuid.uuid5(EVENT_ID_NAMESPACE, f"{event.event_type}/{event.aggregate_id}")
            if stable_id
            else uuid.uuid4()
        )
        envelope = Envelope.wrap(
            event,
            producer=producer,
            correlation_id=cause.correlation_id if cause else f"warehouse-{event.aggregate_id}",
            causation_id=str(cause.event_id) if cause else None,
            sequence=sequence,
            event_id=event_id,
        )
        await call_with_retry(
            lambda: self._producer.send_and_wait(
                self._prefix + event.topic,
                envelope.to_bytes(),
                key=envelope.key,
                headers=envelope_headers(envelope),
            ),
            _PUBLISH_BACKOFF,
            retry_if=kafka_may_pass,
            on_retry=lambda attempt, error, pause_s: log.warning(
                "warehouse_simulator.publish_failed",
                event_type=envelope.event_type,
                attempt=attempt,
                error=str(error),
                retry_in_s=round(pause_s, 2),
            ),
        )
        log.info(
            "warehouse_simulator.published",
            event_type=envelope.event_type,
            aggregate_id=envelope.aggregate_id,
        )
