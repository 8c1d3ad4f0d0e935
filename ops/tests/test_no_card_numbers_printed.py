"""What ``orderflow-ops timeline`` and ``check`` print never holds a card number.

They read the topics as they are, records the services refused for holding card data
included, so every text they show of a record is redacted, in JSON output too."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from orderflow_contracts.card_data import REDACTED
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.examples import ORDER_ID, example_event
from orderflow_ops import cli
from orderflow_ops.event_log import LoggedEvent, logged
from orderflow_ops.invariants import Deadlines, check, render
from orderflow_ops.timeline import build_timeline, render_text
from typer.testing import CliRunner, Result

PAN = "4111111111111111"
GROUPED = "4111 1111 1111 1111"

MakeLogged = Callable[..., tuple[LoggedEvent, Envelope]]  # the conftest fixture


def _record(envelope: dict[str, Any], headers: Sequence[tuple[str, bytes]] = ()) -> LoggedEvent:
    value = json.dumps(envelope).encode()
    return logged(
        SimpleNamespace(
            topic="storefront.returns",
            partition=0,
            offset=0,
            timestamp=0,
            value=value,
            headers=list(headers),
        )
    )


def _refused_return() -> LoggedEvent:
    """A return request a service refused and dead-lettered, PANs in its fields as sent."""
    nested = {"note": "x" * 70 + f" {PAN}", PAN: [float(PAN)]}
    return _record(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "ReturnRequested",
            "schema_version": 1,
            "occurred_at": "2025-06-02T16:00:00Z",
            "producer": f"storefront {PAN}",
            "correlation_id": f"corr {GROUPED}",
            "aggregate_id": ORDER_ID,
            "data": {
                "order_id": ORDER_ID,
                "return_request_id": "rr-1",
                "lines": [{"sku": "MB-SPIKY-8CM", "quantity": 1}],
                # Cut short at 200 characters: a cut before redacting kept 13 of its digits.
                "reason": "r" * 183 + f" {PAN} instead",
                "code": float(PAN),
                "tracking_number": int(PAN),
                "condition": nested,
            },
        },
        headers=[("dlq.reason", f"card {GROUPED}".encode()), (f"dlq.{PAN}", b"x")],
    )


def _assert_no_card_number(text: str) -> None:
    assert PAN not in text
    assert GROUPED not in text
    assert "41111111" not in text  # nor most of one
    assert REDACTED in text


def test_the_timeline_shows_a_refused_record_with_its_card_numbers_redacted() -> None:
    entries = build_timeline(ORDER_ID, [_refused_return()])

    text = render_text(ORDER_ID, entries)
    as_json = json.dumps([entry.as_json() for entry in entries])

    _assert_no_card_number(text)
    _assert_no_card_number(as_json)
    assert f"reason={'r' * 183} [REDACTED-PAN...  " in text
    assert "tracking_number=[REDACTED-PAN]" in text
    assert "code=[REDACTED-PAN].0" in text


def test_the_timeline_shows_no_card_number_listed_group_by_group() -> None:
    listed = {"reason": ["4111", "1111", "1111", "1111"], "code": [[4111, 1111, 1111, 1111]],
              "carrier": [4, *[1] * 15]}  # fmt: skip
    record = _record({"event_type": "ReturnRequested", "aggregate_id": ORDER_ID, "data": {
        "order_id": ORDER_ID, **listed}})  # fmt: skip
    text = render_text(ORDER_ID, build_timeline(ORDER_ID, [record]))
    assert "'4111', '1111'" not in text
    assert "4111, 1111" not in text
    assert f"reason={REDACTED}  code={REDACTED}  carrier={REDACTED}" in text


def test_the_timeline_shows_no_card_number_cut_up_across_an_objects_values() -> None:
    boxes = {"total": {"a": "4111", "b": "1111", "c": "1111", "d": "1111"},
             "reason": [{"g": "4111"}, {"g": "1111"}, {"g": "1111"}, {"g": "1111"}]}  # fmt: skip
    record = _record({"event_type": "ReturnRequested", "aggregate_id": ORDER_ID, "data": {
        "order_id": ORDER_ID, **boxes}})  # fmt: skip
    text = render_text(ORDER_ID, build_timeline(ORDER_ID, [record]))
    assert "4111" not in text, text
    assert f"total={REDACTED}" in text
    assert f"reason={REDACTED}" in text


def test_a_card_number_typed_as_the_order_id_is_not_echoed() -> None:
    assert PAN not in render_text(PAN, [])


def test_the_check_redacts_what_it_quotes_of_unreadable_records_and_violations(
    make_logged: MakeLogged,
) -> None:
    placed = json.loads(
        Envelope.wrap(example_event("OrderPlaced"), producer="t", correlation_id="c").to_bytes()
    )
    unknown = {**placed, "event_id": str(uuid.uuid4()), "event_type": PAN}
    # Shown on one line, the tab and newlines become the spaces of a grouped card number.
    multiline = LoggedEvent(
        "orders", 0, 1, 0, None, envelope_error="not an envelope: 4111\t1111\n1111\n1111"
    )
    request, request_env = make_logged("CheckoutRequested", 0, cart_id=PAN)
    answered = [
        make_logged("CartCheckedOut", 1, caused_by=request_env, cart_id=PAN, order_id=order_id)[0]
        for order_id in (ORDER_ID, str(uuid.uuid4()))  # two orders of one cart: a violation
    ]
    log = [_record(unknown), multiline, request, *answered]

    report = check(log, now=datetime.now(UTC), deadlines=Deadlines())
    shown = render(report)

    assert len(report.unreadable) == 2
    assert {v.code for v in report.violations} >= {"cart_with_several_orders"}
    _assert_no_card_number(shown)
    assert "not an envelope: [REDACTED-PAN]" in shown


@pytest.fixture
def ops(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``orderflow-ops`` over a given log instead of a broker."""
    monkeypatch.delenv("ORDERFLOW_ENV", raising=False)

    def run(log: list[LoggedEvent], *args: str) -> Result:
        async def read_log(servers: str, topic_names: Sequence[str]) -> list[LoggedEvent]:
            return log

        monkeypatch.setattr(cli, "read_log", read_log)
        return CliRunner().invoke(cli.app, [*args, "--bootstrap-servers", "127.0.0.1:1"])

    return run


def test_the_timeline_command_prints_no_card_number_as_text_or_json(ops: Any) -> None:
    log = [_refused_return()]

    text = ops(log, "timeline", ORDER_ID)
    as_json = ops(log, "timeline", ORDER_ID, "--json")

    for result in (text, as_json):
        assert result.exit_code == 0, result.output
        _assert_no_card_number(result.output)
    assert json.loads(as_json.output)[0]["dead_letter"]["reason"] == f"card {REDACTED}"


def test_the_check_command_redacts_the_ledger_and_stock_output(
    ops: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reconciled = f"1 order(s) checked, 0 mismatched, 0 in flight (skipped)\nnote {PAN}\nRECONCILED"

    def reconcile(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, 0, stdout=reconciled, stderr=f"warn {GROUPED}")

    level = {"warehouse_id": f"wh {GROUPED}", "sku": PAN, "on_hand": -1, "reserved": 0}
    stock = httpx.Response(
        200, json=[{**level, "available": -1}], request=httpx.Request("GET", "x")
    )
    monkeypatch.setattr(subprocess, "run", reconcile)  # what cli runs and fetches with
    monkeypatch.setattr(httpx, "get", lambda *args, **kwargs: stock)

    result = ops([], "check", "--fulfillment-url", "http://fulfillment")

    assert result.exit_code == 1, result.output  # the negative stock level
    assert "NEGATIVE" in result.output
    _assert_no_card_number(result.output)
