"""Card numbers never reach a service's tables, outbox, dead letters or logs; every HTTP input is
screened. On the real Kafka and PostgreSQL, with each service running in-process.

Every run uses a fresh, random Visa number, so rows left by an earlier run cannot confuse it.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import structlog
from aiokafka import AIOKafkaProducer
from orderflow_cart.bootstrap import build_definition as build_cart
from orderflow_cart.settings import CartSettings
from orderflow_chassis.clock import SettableClock, SystemClock
from orderflow_chassis.dead_letters import failure_details
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.structured_logging import configure_logging
from orderflow_contracts import luhn_valid, topics
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded, Event, ParcelDispatched
from orderflow_fulfillment.bootstrap import build_definition as build_fulfillment
from orderflow_fulfillment.settings import FulfillmentSettings
from orderflow_localinfra.discovery import Infrastructure
from orderflow_returns.bootstrap import build_definition as build_returns
from orderflow_returns.settings import ReturnsSettings

from services.payment.tests.harness import payment_service
from services.returns.tests.integration.returns_support import (
    START,
    SUBSCRIBED,
    Order,
    ReturnsHarness,
)
from tests.support.kafka_tools import create_topics, publish_raw, read_topic
from tests.support.service_harness import (
    caught_up,
    running_service,
    service_settings,
    unique_prefix,
)

pytestmark = pytest.mark.integration


def random_visa_number() -> str:
    body = "4" + "".join(random.choice("0123456789") for _ in range(14))
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


PAN = random_visa_number()
GROUPED = " ".join(PAN[i : i + 4] for i in range(0, 16, 4))
NEEDLES = (PAN, GROUPED)


@pytest.fixture(scope="module")
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line the services write while this module runs, as production renders it."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("card-data-screening", level="INFO", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.reset_defaults()


def assert_no_card_number(where: str, text: str | bytes) -> None:
    data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    for needle in NEEDLES:
        assert needle not in data, f"a card number reached {where}"


async def assert_schema_holds_no_card_number(pool: asyncpg.Pool, schema: str) -> None:
    """Read every row of every table of ``schema`` (outbox payloads and headers decoded)."""
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
        schema,
    )
    assert tables
    for table in tables:
        name = table["table_name"]
        for row in await pool.fetch(f'SELECT * FROM {schema}."{name}"'):
            for column, value in row.items():
                text = _readable(column, value)
                assert_no_card_number(f"{schema}.{name}.{column}", text)


def _readable(column: str, value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if column == "headers" and isinstance(value, str):  # the outbox: [[name, base64 value]]
        return " ".join(
            f"{n} {base64.b64decode(v).decode('latin-1')}" for n, v in json.loads(value)
        )
    return str(value)


def tampered(event: Event, producer: str, **data: Any) -> bytes:
    """``event``'s envelope with ``data`` fields set as given (raw JSON values)."""
    document = json.loads(Envelope.wrap(event, producer=producer, correlation_id="j").to_bytes())
    document["data"].update(data)
    return json.dumps(document).encode()


def envelope_bytes(event: Event, producer: str) -> bytes:
    return Envelope.wrap(event, producer=producer, correlation_id="j").to_bytes()


async def dead_letters(kafka: str, topic: str, expect: int) -> list[Any]:
    letters = await read_topic(kafka, topic + ".dlq", expect=expect)
    assert len(letters) == expect
    for letter in letters:
        everything = (letter.key or b"") + letter.value
        everything += b"".join(n.encode() + v for n, v in letter.headers)
        assert_no_card_number(f"the dead letter on {topic}.dlq", everything)
        assert failure_details(letter.headers)["error_code"] == "card_data_refused"
    return letters


# --------------------------------------------------------------------------------- returns


@pytest.fixture(scope="module")
async def returns_run(
    orderflow_infrastructure: Infrastructure, captured_logs: io.StringIO
) -> AsyncIterator[ReturnsHarness]:
    prefix = unique_prefix("screening-returns")
    kafka = orderflow_infrastructure.kafka_bootstrap_servers
    await create_topics(kafka, [prefix + topic for topic in (*SUBSCRIBED, topics.RETURNS)])
    clock = SettableClock(START)
    settings = service_settings(orderflow_infrastructure, "returns", topic_prefix=prefix)
    definition = build_returns(settings, clock=clock, returns_settings=ReturnsSettings())
    producer = AIOKafkaProducer(bootstrap_servers=kafka)
    await producer.start()
    try:
        async with running_service(definition, settings) as runtime:
            yield ReturnsHarness(orderflow_infrastructure, prefix, clock, runtime, producer)
    finally:
        await producer.stop()


async def test_returns_stores_no_card_number_from_any_part_of_a_record(
    returns_run: ReturnsHarness, captured_logs: io.StringIO
) -> None:
    h = returns_run
    kafka = h.infrastructure.kafka_bootstrap_servers
    h.clock.set(START + timedelta(days=5))
    order = Order()
    await order.shipped_and_delivered(h, START)
    topic = h.prefix + topics.STOREFRONT_RETURNS
    request = order.return_requested([("MB-SPIKY-8CM", 1)])
    claim = order.warranty_claim("NS-NIGHT-M", "DE")
    key = str(order.order_id).encode()
    await publish_raw(
        kafka,
        topic,
        [
            # in the return reason (returns.rmas.reason, served by GET /rmas)...
            (key, tampered(request, "storefront", reason=f"refund to card {GROUPED}")),
            # ...in the warranty defect text (warranty_claims.defect_description)...
            (key, tampered(claim, "storefront", defect_description=f"card {PAN} broke")),
            # ...as a JSON number in a field no contract knows...
            (key, tampered(request, "storefront", note=int(PAN))),
            # ...as the Kafka key (the aggregate id is copied to dead letters and logs).
            (PAN.encode(), envelope_bytes(order.warranty_claim("NS-NIGHT-M", "DE"), "x")),
        ],
    )
    # ...and in a header name.
    await publish_raw(
        kafka, topic, [(key, envelope_bytes(request, "storefront"))], [(f"x-card-{PAN}", b"1")]
    )
    await caught_up(h.runtime)

    await dead_letters(kafka, topic, expect=5)
    await assert_schema_holds_no_card_number(h.runtime.pool, "returns")
    async with _http(h.runtime) as http:
        assert_no_card_number("GET /rmas", (await http.get("/rmas")).text)
    assert_no_card_number("the logs", captured_logs.getvalue())


# ----------------------------------------------------------------------------- fulfillment


@pytest.fixture(scope="module")
async def fulfillment_run(
    orderflow_infrastructure: Infrastructure, captured_logs: io.StringIO
) -> AsyncIterator[tuple[ServiceRuntime, str]]:
    prefix = unique_prefix("screening-fulfillment")
    kafka = orderflow_infrastructure.kafka_bootstrap_servers
    await create_topics(kafka, [prefix + t for t in topics.ALL_TOPICS])
    settings = service_settings(orderflow_infrastructure, "fulfillment", topic_prefix=prefix)
    fulfillment = FulfillmentSettings.model_validate({"seed_file": ""})
    definition = build_fulfillment(settings, clock=SettableClock(), fulfillment=fulfillment)
    async with running_service(definition, settings) as runtime:
        yield runtime, prefix


def parcel_dispatched(**changes: Any) -> ParcelDispatched:
    values: dict[str, Any] = {
        "shipment_id": str(uuid.uuid4()),
        "warehouse_id": "EU-1",
        "carrier": "DHL",
        "tracking_number": "JD014600003828383",
        "dispatched_at": "2025-02-03T15:00:00Z",
    }
    return ParcelDispatched.model_validate({**values, **changes})


async def test_fulfillment_stores_no_card_number_sent_in_a_warehouse_field(
    fulfillment_run: tuple[ServiceRuntime, str], captured_logs: io.StringIO
) -> None:
    runtime, prefix = fulfillment_run
    kafka = runtime.settings.kafka_bootstrap_servers
    topic = prefix + topics.WAREHOUSE_EVENTS
    in_warehouse_id = parcel_dispatched(warehouse_id=PAN)  # an unknown shipment: an anomaly
    in_carrier = parcel_dispatched(carrier=f"card {GROUPED}")
    as_number = parcel_dispatched()
    await publish_raw(
        kafka,
        topic,
        [
            (str(in_warehouse_id.shipment_id).encode(), envelope_bytes(in_warehouse_id, "wh")),
            (str(in_carrier.shipment_id).encode(), envelope_bytes(in_carrier, "wh")),
            (str(as_number.shipment_id).encode(), tampered(as_number, "wh", bin=float(PAN))),
        ],
    )
    await caught_up(runtime)

    await dead_letters(kafka, topic, expect=3)
    await assert_schema_holds_no_card_number(runtime.pool, "fulfillment")
    async with _http(runtime) as http:
        assert_no_card_number("GET /anomalies", (await http.get("/anomalies")).text)
    assert_no_card_number("the logs", captured_logs.getvalue())


# ------------------------------------------------------------------------------------ cart


@pytest.fixture(scope="module")
async def cart_run(
    orderflow_infrastructure: Infrastructure, captured_logs: io.StringIO
) -> AsyncIterator[tuple[ServiceRuntime, str]]:
    prefix = unique_prefix("screening-cart")
    settings = service_settings(orderflow_infrastructure, "cart", topic_prefix=prefix)
    definition = build_cart(settings, clock=SystemClock(), cart_settings=CartSettings())
    async with running_service(definition, settings) as runtime:
        yield runtime, prefix


async def test_a_generated_cart_id_with_a_luhn_valid_digit_run_is_still_accepted(
    cart_run: tuple[ServiceRuntime, str],
) -> None:
    runtime, prefix = cart_run
    # Like cart-6940787722504b46 (a real order was refused for it): a Luhn-valid run of
    # digits, Visa-shaped even, glued to the letters of a generated id.
    body = "4" + "".join(random.choice("0123456789") for _ in range(11))
    digits = next(body + d for d in "0123456789" if luhn_valid(body + d))
    cart_id = f"cart-{digits}b{uuid.uuid4().hex[:6]}"
    added = CartItemAdded.model_validate({"cart_id": cart_id, "sku": "MB-SPIKY-8CM", "quantity": 1})
    await publish_raw(
        runtime.settings.kafka_bootstrap_servers,
        prefix + topics.STOREFRONT_CARTS,
        [(cart_id.encode(), envelope_bytes(added, "storefront"))],
    )
    await caught_up(runtime)
    async with _http(runtime) as http:
        response = await http.get(f"/carts/{cart_id}")
    assert response.status_code == 200, response.text
    assert response.json()["lines"][0]["sku"] == "MB-SPIKY-8CM"


async def test_a_card_number_in_a_cart_key_or_header_name_is_refused(
    cart_run: tuple[ServiceRuntime, str], captured_logs: io.StringIO
) -> None:
    runtime, prefix = cart_run
    kafka = runtime.settings.kafka_bootstrap_servers
    topic = prefix + topics.STOREFRONT_CARTS
    cart_id = f"cart-{uuid.uuid4().hex[:8]}"
    added = CartItemAdded.model_validate({"cart_id": cart_id, "sku": "MB-SPIKY-8CM", "quantity": 1})
    await publish_raw(kafka, topic, [(PAN.encode(), envelope_bytes(added, "storefront"))])
    await publish_raw(
        kafka, topic, [(cart_id.encode(), envelope_bytes(added, "s"))], [(f"x-{PAN}", b"1")]
    )
    await caught_up(runtime)
    await dead_letters(kafka, topic, expect=2)
    await assert_schema_holds_no_card_number(runtime.pool, "cart")
    assert_no_card_number("the logs", captured_logs.getvalue())


# ------------------------------------------------------------------------------------ HTTP


def _http(runtime: ServiceRuntime) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{runtime.http_port}", timeout=10)


async def assert_input_screened(runtime: ServiceRuntime, routes: Sequence[str]) -> None:
    """Each route (``{}`` marks where input goes) refuses NUL with 400 and a card number with
    422, never 500 and never echoing the digits."""
    async with _http(runtime) as http:
        for route in routes:
            for bad, status in (("a%00b", 400), ("%ZZ", 400), ("%ED%A0%80", 400), (PAN, 422)):
                response = await http.get(route.format(bad))
                assert response.status_code == status, (route, bad, response.text)
                assert isinstance(response.json()["detail"], str)
                assert_no_card_number(f"the answer of {route}", response.text)


async def test_fulfillment_http_inputs_are_screened(
    fulfillment_run: tuple[ServiceRuntime, str],
) -> None:
    # Regression: a NUL in these query strings answered 500.
    runtime, _ = fulfillment_run
    await assert_input_screened(
        runtime, ["/stock?sku={}", "/stock?warehouse={}", "/anomalies?reason={}", "/orders/{}"]
    )


async def test_returns_http_inputs_are_screened(returns_run: ReturnsHarness) -> None:
    await assert_input_screened(
        returns_run.runtime, ["/rmas?state={}", "/rmas?order_id={}", "/rmas/{}"]
    )


async def test_cart_http_inputs_are_screened(cart_run: tuple[ServiceRuntime, str]) -> None:
    runtime, _ = cart_run
    await assert_input_screened(
        runtime, ["/carts/{}", "/carts/{}/unapplied-events", "/catalog?currency={}"]
    )


async def test_payment_http_inputs_are_screened(
    orderflow_infrastructure: Infrastructure,
) -> None:
    async with payment_service(orderflow_infrastructure) as run:
        await assert_input_screened(run.runtime, ["/payments/{}", "/payments/x?{}=1"])
