"""The warehouse simulator does a shipment's work once, and a duplicate request is done only
when that work is: its offset must not be committed ahead of an undelivered parcel. What it
publishes reaches the broker, however often it must be sent."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError, ProducerClosed
from orderflow_chassis.waiting import wait_at_most
from orderflow_contracts.envelope import Envelope
from orderflow_fulfillment.simulator import WarehouseSimulator
from orderflow_fulfillment.simulator_progress import RequestsTakenOn


class Work:
    def __init__(self, *, fails: bool = False) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.fails = fails

    async def __call__(self) -> None:
        self.runs += 1
        await self.release.wait()
        if self.fails:
            raise RuntimeError("the warehouse could not ship")


async def test_a_duplicate_waits_for_the_original_and_does_nothing_itself() -> None:
    taken_on, shipment, work = RequestsTakenOn(), uuid.uuid4(), Work()
    original = asyncio.ensure_future(taken_on.once(shipment, work))
    duplicate = asyncio.ensure_future(taken_on.once(shipment, work))

    await asyncio.sleep(0.05)
    assert not duplicate.done()  # the parcel is not delivered yet: nor is the duplicate
    work.release.set()
    await asyncio.gather(original, duplicate)

    assert work.runs == 1
    assert taken_on.duplicates == [shipment]
    await taken_on.once(shipment, work)  # long done: a later duplicate ends at once
    assert work.runs == 1


async def test_work_that_failed_is_done_again_when_the_request_is_read_again() -> None:
    taken_on, shipment = RequestsTakenOn(), uuid.uuid4()
    failing = Work(fails=True)
    original = asyncio.ensure_future(taken_on.once(shipment, failing))
    duplicate = asyncio.ensure_future(taken_on.once(shipment, failing))
    failing.release.set()

    with pytest.raises(RuntimeError):
        await original
    with pytest.raises(RuntimeError):  # left pending too, for a redelivery
        await duplicate
    retry = Work()
    retry.release.set()
    await taken_on.once(shipment, retry)

    assert (failing.runs, retry.runs) == (1, 1)


class FlakyProducer:
    """A producer whose first sends the broker does not acknowledge."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.sent: list[tuple[str, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, **_: object) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((topic, value))


async def test_a_publish_the_broker_did_not_acknowledge_is_sent_again() -> None:
    # It was dropped, and the parcel waited for a restart of the simulator.
    simulator = WarehouseSimulator("unused:9092")
    simulator._producer = FlakyProducer(KafkaTimeoutError(), NotLeaderForPartitionError())

    counted = await simulator.count_stock("EU", "GEL", 4)

    [(topic, value)] = simulator._producer.sent
    assert topic == "warehouse.events"
    assert Envelope.from_bytes(value).parse_event() == counted


async def test_a_publish_the_broker_can_never_take_fails_with_its_cause() -> None:
    simulator = WarehouseSimulator("unused:9092")
    simulator._producer = FlakyProducer(ProducerClosed())

    with pytest.raises(ProducerClosed):
        await wait_at_most(5, simulator.count_stock("EU", "GEL", 4))
