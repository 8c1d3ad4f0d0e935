"""Logs never carry a card number: every value and key of every event is redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from orderflow_chassis.structured_logging import (
    MAX_REDACTED_NODES,
    configure_logging,
    redact_card_data,
)

PAN = "4111111111111111"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("test-service", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_structlog_events_are_redacted_in_values_keys_and_nested_data(
    log_stream: io.StringIO,
) -> None:
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(aggregate_id=PAN):
        log.warning(
            f"refused {PAN}",
            reason=f"no cart '{PAN}'",
            number=int(PAN),
            raw=PAN.encode(),
            nested={"deep": [{"x": f"tok_{PAN}"}], PAN: "as a key"},
            cart_id="cart-6940787722504b46",
        )
    output = log_stream.getvalue()
    assert PAN not in output
    (line,) = lines(log_stream)
    assert line["event"] == "refused [REDACTED-PAN]"
    assert line["nested"]["deep"][0]["x"] == "tok_[REDACTED-PAN]"
    assert line["nested"]["[REDACTED-PAN]"] == "as a key"
    assert line["cart_id"] == "cart-6940787722504b46"  # generated ids are left alone
    assert line["service"] == "test-service"


def test_standard_library_logs_and_exceptions_are_redacted(log_stream: io.StringIO) -> None:
    logging.getLogger("aiokafka.some").warning("record key %s", PAN)
    try:
        raise ValueError(f"bad card {PAN}")
    except ValueError:
        structlog.get_logger("test").exception("handler failed")
        logging.getLogger("orderflow.test.stdlib").exception("stdlib too")
    assert PAN not in log_stream.getvalue()
    assert len(lines(log_stream)) == 3
    assert "bad card [REDACTED-PAN]" in lines(log_stream)[1]["exception"]


def test_objects_are_kept_unless_their_text_holds_a_card_number() -> None:
    class Shown:
        def __init__(self, text: str) -> None:
            self.text = text

        def __str__(self) -> str:
            return self.text

    clean = Shown("nothing here")
    event = redact_card_data(None, "info", {"a": clean, "b": Shown(f"pan {PAN}"), "n": 3})
    assert event == {"a": clean, "b": "pan [REDACTED-PAN]", "n": 3}


def test_a_card_number_listed_group_by_group_is_redacted_and_other_lists_kept() -> None:
    event = redact_card_data(
        None,
        "info",
        {"groups": ["4111", "1111", "1111", "1111"], "n": (4111, 1111, 1111, 1111, "x")},
    )
    assert event["groups"] == ["[REDACTED-PAN]"] * 4
    assert event["n"] == ["[REDACTED-PAN]"] * 4 + ["x"]
    digits = redact_card_data(None, "info", {"digits": [9, *map(int, PAN)]})
    assert digits["digits"] == [9, *["[REDACTED-PAN]"] * len(PAN)]  # cut into pieces
    nested = redact_card_data(None, "info", {"t": [(4111,), (1111,), (1111,), (1111,)]})
    assert nested["t"] == ["[REDACTED-PAN]"] * 4  # tuples are sequences in a log line
    years = {"years": [2017, 2018, 2019, 2020]}
    assert redact_card_data(None, "info", dict(years)) == years


def test_the_cost_of_one_event_is_bounded_and_it_stays_renderable() -> None:
    huge = [PAN] * (MAX_REDACTED_NODES * 3)
    event = redact_card_data(None, "info", {"event": "x", "values": huge})
    assert PAN not in json.dumps(event)
    deep: Any = PAN
    for _ in range(50_000):
        deep = [deep]
    rendered = json.dumps(redact_card_data(None, "info", {"deep": deep}))  # no RecursionError
    assert PAN not in rendered
    assert "too deep" in rendered


def test_floats_and_keys_that_are_not_strings_are_redacted_as_they_render(
    log_stream: io.StringIO,
) -> None:
    structlog.get_logger("test").info(
        "numbers",
        value=float(PAN),
        fraction=float(f"0.{PAN}"),
        elapsed_s=0.25,
        counts={int(PAN): 1, 7: 2},
        nested=[{float(PAN): "x"}],
    )
    output = log_stream.getvalue()
    assert PAN not in output
    (line,) = lines(log_stream)
    assert line["value"] == "[REDACTED-PAN].0"
    assert line["fraction"] == "0.[REDACTED-PAN]"
    assert line["elapsed_s"] == 0.25  # a float without a card number stays a number
    assert line["counts"] == {"[REDACTED-PAN]": 1, "7": 2}
    assert line["nested"] == [{"[REDACTED-PAN].0": "x"}]


def test_the_console_format_shows_no_card_number_in_a_float_or_an_int_key() -> None:
    event = redact_card_data(None, "info", {"value": float(PAN), "counts": {int(PAN): 1}})
    assert PAN not in structlog.dev.ConsoleRenderer(colors=False)(None, "info", dict(event))


async def test_http_clients_do_not_log_the_urls_they_call(log_stream: io.StringIO) -> None:
    # Review (helper 118): httpx logs every request at INFO with its full URL, and a PayPal
    # authorisation's URL holds the buyer's payment token (the PayPal order id).
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={})

    transport = httpx.MockTransport(answer)
    async with httpx.AsyncClient(base_url="https://api.example", transport=transport) as client:
        await client.post("/v2/checkout/orders/8XY12345AB6789012/authorize")
    logging.getLogger("httpx").warning("a failure is still logged")

    assert "8XY12345AB6789012" not in log_stream.getvalue()
    assert [line["event"] for line in lines(log_stream)] == ["a failure is still logged"]
