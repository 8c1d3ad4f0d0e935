"""Simulators playing different warehouses each do their own warehouses' work, and all of it
gets done: none skips (and commits past) another's requests, no return is answered twice."""

from __future__ import annotations

import uuid
from typing import Any

from aiokafka import ConsumerRecord
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import Event, FulfillmentRequested, ReturnAuthorized
from orderflow_contracts.examples import example_data
from orderflow_fulfillment.simulator import DEFAULT_GROUP, SimulatorConfig, WarehouseSimulator

ORDER = uuid.uuid4()


def record(event: Event) -> ConsumerRecord[bytes, bytes]:
    value = Envelope.wrap(event, producer="test", correlation_id="journey").to_bytes()
    return ConsumerRecord("fulfillment", 0, 0, 0, 0, b"k", value, None, len(value), 0, [])


def request(warehouse: str, sku: str) -> FulfillmentRequested:
    data: dict[str, Any] = example_data("FulfillmentRequested")
    line = {**data["lines"][0], "sku": sku}
    return FulfillmentRequested.model_validate(
        {**data, "order_id": str(ORDER), "warehouse_id": warehouse, "lines": [line],
         "shipment_id": str(uuid.uuid4())}
    )  # fmt: skip


def authorised_return(sku: str) -> ReturnAuthorized:
    data: dict[str, Any] = example_data("ReturnAuthorized")
    line = {**data["lines"][0], "sku": sku, "quantity": 1}
    return ReturnAuthorized.model_validate({**data, "order_id": str(ORDER), "lines": [line]})


class TakenOn:
    """Records what a simulator took on, without doing the work."""

    def __init__(self) -> None:
        self.taken: list[uuid.UUID] = []

    def once(self, request_id: uuid.UUID, work: object) -> str:
        self.taken.append(request_id)
        return "taken on"


def simulator(*warehouses: str) -> WarehouseSimulator:
    config = SimulatorConfig(warehouses=frozenset(warehouses), default_return_warehouse="EU")
    played = WarehouseSimulator("unused:9092", config=config)
    played._taken_on = TakenOn()  # type: ignore[assignment]
    return played


def test_simulators_of_different_warehouses_do_not_share_a_consumer_group() -> None:
    # Sharing the default group, each was given part of the requests, skipped the other
    # warehouse's and committed past them: those shipments never left.
    groups = {simulator(*played).config.consumer_group for played in [(), ("EU",), ("US",)]}
    assert groups == {DEFAULT_GROUP, f"{DEFAULT_GROUP}.EU", f"{DEFAULT_GROUP}.US"}
    assert SimulatorConfig(warehouses=frozenset({"US"}), group_id="mine").consumer_group == "mine"


def test_a_return_is_answered_by_the_simulator_of_the_warehouse_that_shipped_it() -> None:
    # The US simulator's return went to the default (EU) in the EU simulator too, answered
    # twice under one event id: whichever copy came first won, maybe with the wrong warehouse.
    europe, america = simulator("EU"), simulator("US")
    shipped = request("US", "GEL")
    for each in (europe, america):
        assert (each._work_for(record(shipped)) is not None) is (each is america)

    returned = record(authorised_return("GEL"))
    answers = [each._work_for(returned) for each in (europe, america)]

    assert [answer is not None for answer in answers] == [False, True]
