"""Replaying dead letters from the console, on a real broker and database: only an operator
with the page's CSRF token may, after a confirmation; every replay is audited, and its outcome
(applied, or dead-lettered again) is shown once it is known."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
from orderflow_localinfra.discovery import Infrastructure

from ops.tests.console.console_harness import csrf_token, envelope, replay_id, running_console
from tests.support.kafka_tools import eventually, publish_raw
from tests.support.service_harness import publish_envelopes, unique_prefix

pytestmark = pytest.mark.integration

_ADDRESS = re.compile(r'data-address="([^"]+)" data-error-code="([^"]+)"')


async def _addresses(client: httpx.AsyncClient, expect: int) -> list[tuple[str, str]]:
    async def listed() -> list[tuple[str, str]]:
        return _ADDRESS.findall((await client.get("/dead-letters")).text)

    found = await eventually(listed, lambda rows: len(rows) >= expect, timeout_s=60)
    assert len(found) >= expect, f"dead letters listed: {found}"
    return found


async def _outcome(client: httpx.AsyncClient, wanted: str) -> str:
    page = await eventually(
        lambda: client.get("/replays"),
        lambda answer: f'data-outcome="{wanted}"' in answer.text,
        timeout_s=60,
    )
    assert f'data-outcome="{wanted}"' in page.text, page.text[-2000:]
    return page.text


async def test_only_a_confirmed_operator_replays_and_each_replay_is_audited_with_its_outcome(
    orderflow_infrastructure: Infrastructure,
) -> None:
    kafka = orderflow_infrastructure.kafka_bootstrap_servers
    prefix = unique_prefix("console-replay")
    order_id = str(uuid.uuid4())
    async with running_console(orderflow_infrastructure, prefix) as console:
        group = f"{prefix}orderflow.console.events"
        # A real dead letter: a record the console's own consumer refuses (no valid envelope).
        await publish_raw(kafka, f"{prefix}orders", [(b"bad", b'{"event_type": "OrderPlaced"}')])
        # A dead letter of a valid event, as a service leaves one after a handler bug that is
        # fixed now: replayed, it is applied.
        placed = envelope("OrderPlaced", 0, order_id=order_id, cart_id="cart-replay")
        await publish_envelopes(orderflow_infrastructure, prefix, [placed])
        cancelled = envelope("OrderCancelled", 1, order_id=order_id)
        headers = [
            ("event_id", str(cancelled.event_id).encode()),
            ("dlq.error_code", b"handler_failed"),
            ("dlq.reason", b"a bug, fixed since"),
            ("dlq.service", b"console"),
            ("dlq.consumer", group.encode()),
            ("dlq.original_topic", f"{prefix}orders".encode()),
            ("dlq.failed_at", b"2026-11-29T00:00:00Z"),
        ]
        await publish_raw(
            kafka,
            f"{prefix}orders.dlq",
            [(order_id.encode(), cancelled.to_bytes())],
            headers=headers,
        )

        async with console.signed_in("view", "view-secret-2") as viewer:
            letters = dict(await _addresses(viewer, expect=2))
            refused = next(a for a, code in letters.items() if code != "handler_failed")
            fixed = next(a for a, code in letters.items() if code == "handler_failed")
            page = await viewer.get("/dead-letters")
            assert "replay-one" not in page.text  # a viewer is offered no replay
            as_viewer = await viewer.post(
                "/dead-letters/replay",
                data={"letter": fixed, "confirm": "yes", "csrf_token": csrf_token(page.text)},
            )
            assert as_viewer.status_code == 403

        async with console.client() as anonymous:
            answer = await anonymous.post(
                "/dead-letters/replay", data={"letter": fixed, "confirm": "yes"}
            )
            assert answer.status_code == 401

        async with console.signed_in("op", "op-secret-1") as operator:
            page = await operator.get("/dead-letters")
            token = csrf_token(page.text)
            for forged in ({}, {"csrf_token": "0" * 64}):
                answer = await operator.post(
                    "/dead-letters/replay", data={"letter": fixed, "confirm": "yes", **forged}
                )
                assert answer.status_code == 403, answer.text
            assert "no replay yet" in (await operator.get("/replays")).text
            # A digit int() reads but that is not ASCII ("²") was a 500.
            assert (await operator.get("/replays?id=%C2%B2")).status_code == 400

            confirm = await operator.post(
                "/dead-letters/replay", data={"letter": fixed, "csrf_token": token}
            )
            assert confirm.status_code == 200
            assert 'id="replay-confirm"' in confirm.text
            assert "no replay yet" in (await operator.get("/replays")).text  # not yet

            unconfirmed = await operator.post(
                "/dead-letters/replay",
                data={"letter": fixed, "csrf_token": token, "confirm": "yes"},
            )
            assert unconfirmed.status_code == 400  # a replay is posted from its confirmation
            done = await operator.post(
                "/dead-letters/replay",
                data={"letter": fixed, "csrf_token": token, "confirm": "yes", **replay_id(confirm)},
            )
            assert done.status_code == 303
            assert done.headers["location"].startswith("/replays?request=")
            audit = await _outcome(operator, "applied")
            assert "op (operator)" in audit
            assert fixed in audit
            order = await operator.get(f"/orders/{order_id}")
            assert 'id="order-state">cancelled<' in order.text  # the replayed event, applied

            # Replaying all matching a filter: the refused record is refused again.
            code = dict((a, c) for a, c in letters.items())[refused]
            confirm_all = await operator.post(
                "/dead-letters/replay",
                data={"all": "yes", "reason": code, "csrf_token": token},
            )
            assert confirm_all.status_code == 200
            assert "Replay 1 dead letter(s)?" in confirm_all.text
            done = await operator.post(
                "/dead-letters/replay",
                data={
                    "all": "yes",
                    "reason": code,
                    "csrf_token": token,
                    "confirm": "yes",
                    **replay_id(confirm_all),
                },
            )
            assert done.status_code == 303
            audit = await _outcome(operator, "dead_lettered_again")
            assert f"all matching reason={code}" in audit

        rows = await console.runtime.pool.fetch(
            "SELECT requested_by, role, dlq_topic, outcome FROM console.replay_audit ORDER BY id"
        )
        assert [(r["requested_by"], r["role"], r["outcome"]) for r in rows] == [
            ("op", "operator", "applied"),
            ("op", "operator", "dead_lettered_again"),
        ]
        assert json.dumps([r["dlq_topic"] for r in rows]) == json.dumps([f"{prefix}orders.dlq"] * 2)
