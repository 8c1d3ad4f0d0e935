"""Dead letters: the list with a safe preview, filters, and replay (confirmed, audited)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from orderflow_contracts.card_data import contains_card_number, redact_card_numbers
from orderflow_contracts.uuids import uuid7

from orderflow_ops.console.read_model_queries import DeadLetterFilter, ReplaySelection
from orderflow_ops.console.replay import (
    ReplayLimits,
    ReplayOfAnotherSelection,
    ReplayRequest,
    ReplayRunning,
    replay_letters,
)
from orderflow_ops.console.web_common import (
    Console,
    PageError,
    Viewer,
    console_router,
    read_form,
    render,
    require_write,
)

LISTED = 200
CONFIRM_SHOWN = 50
PREVIEW_CHARS = 300
_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")
# ASCII digits, and offsets of at most 18 of them: every one fits PostgreSQL's bigint.
_ADDRESS = re.compile(r"([A-Za-z0-9._-]{1,249}\.dlq):(\d{1,9}):(\d{1,18})", re.ASCII)


def safe_preview(value: bytes) -> str:
    """A short, printable preview of a dead letter's value, with card numbers redacted (the
    chassis redacts them when a letter is made; this holds for letters from anywhere)."""
    text = value[: PREVIEW_CHARS * 4].decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else "?" for c in text)
    shown = redact_card_numbers(text)
    return shown if len(shown) <= PREVIEW_CHARS else shown[: PREVIEW_CHARS - 1] + "…"


def parse_filter(values: Mapping[str, str]) -> DeadLetterFilter:
    """The filter from query or form fields; a malformed value is a 400 with a message."""
    chosen: dict[str, str | None] = {}
    for field, label in (("topic", "topic"), ("service", "service"), ("reason", "reason code")):
        value = (values.get(field) or "").strip()
        if value and not _NAME.fullmatch(value):
            raise PageError(
                400,
                "Bad filter",
                f"The {label} filter {value[:40]!r} is malformed: letters, digits and . _ - only.",
            )
        chosen[field] = value or None
    if chosen["topic"] and not str(chosen["topic"]).endswith(".dlq"):
        raise PageError(400, "Bad filter", "The topic filter names a dead-letter topic (….dlq).")
    return DeadLetterFilter(chosen["topic"], chosen["service"], chosen["reason"])


def parse_addresses(raw: list[str]) -> list[tuple[str, int, int]]:
    addresses = []
    for text in raw:
        match = _ADDRESS.fullmatch(text.strip())
        if match is None:
            raise PageError(
                400,
                "Bad selection",
                f"{text[:80]!r} is not a dead letter's topic:partition:offset.",
            )
        addresses.append((match[1], int(match[2]), int(match[3])))
    return addresses


def describe_selection(addresses: list[tuple[str, int, int]], selected: DeadLetterFilter) -> str:
    """What a replay sends, as its audit keeps and the Replays page shows it. Its parts were
    screened one by one; put together they must not make a card number either (review,
    helper 121: ``orders.dlq:0:4111`` beside ``1111-1111-1111.dlq:0:1``)."""
    what = (
        "; ".join(f"{t}:{p}:{o}" for t, p, o in addresses)
        if addresses
        else f"all matching {selected.describe()}"
    )
    if contains_card_number(what):
        raise PageError(
            422, "Bad selection", "The selection reads as a card number: choose it otherwise."
        )
    return what


def parse_replay_id(text: str) -> UUID:
    """The id a confirmation page gave its replay; a 400 without one."""
    try:
        return UUID(text)
    except ValueError:
        raise PageError(
            400,
            "Not confirmed",
            "The replay's id is missing or malformed: open its confirmation page again.",
        ) from None


def _first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def dead_letters_router(console: Console) -> APIRouter:
    router = console_router(console)

    @router.get("/dead-letters")
    async def dead_letters(request: Request, session: Viewer) -> HTMLResponse:
        selected = parse_filter(request.query_params)
        queries = console.queries(request)
        rows = await queries.dead_letters(selected, LISTED, value_bytes=PREVIEW_CHARS * 4)
        return render(
            console,
            request,
            "dead_letters.html",
            session,
            selected=selected,
            letters=[{**dict(row), "preview": safe_preview(row["message_value"])} for row in rows],
            choices=await queries.dead_letter_choices(),
            listed=LISTED,
        )

    @router.post("/dead-letters/replay")
    async def replay(request: Request, session: Viewer) -> Response:
        form = await read_form(request)
        require_write(console, session, form)
        selected = parse_filter(
            {name: _first(form, name) for name in ("topic", "service", "reason")}
        )
        addresses = parse_addresses(form.get("letter", []))
        if not addresses and _first(form, "all") != "yes":
            raise PageError(400, "Nothing selected", "Choose a dead letter, or all matching.")
        what = describe_selection(addresses, selected)
        queries = console.queries(request)

        async def confirmation(
            selection: ReplaySelection, stopped_because: str | None = None, status: int = 200
        ) -> HTMLResponse:
            total, shown = await queries.replay_preview(selection, CONFIRM_SHOWN)
            if addresses and stopped_because is None and total != len(set(addresses)):
                if replayed := await queries.replayed_already(addresses):
                    raise PageError(409, "Replayed already", _replayed_already(replayed))
                raise PageError(404, "Not found", "A chosen dead letter is not in the read model.")
            return render(
                console,
                request,
                "replay_confirm.html",
                session,
                status=status,
                shown=shown,
                total=total,
                what=what,
                selected=selected,
                addresses=[f"{t}:{p}:{o}" for t, p, o in addresses],
                replay_all=not addresses,
                replay_id=selection.request_id,
                replayed=await queries.replayed_count(selection.request_id),
                stopped_because=stopped_because,
            )

        if _first(form, "confirm") != "yes":
            # A new replay: its id makes posting the page again continue it, never repeat it.
            return await confirmation(ReplaySelection(uuid7(), selected, addresses))
        selection = ReplaySelection(parse_replay_id(_first(form, "replay_id")), selected, addresses)
        options = console.console_settings
        try:
            result = await replay_letters(
                queries,
                request.app.state.resources.pool,
                console.settings.db_schema,
                console.settings.kafka_bootstrap_servers,
                ReplayRequest(selection, session, what, datetime.now(UTC)),
                ReplayLimits(options.replay_send_timeout_s, options.replay_request_budget_s),
            )
        except ReplayRunning:
            raise PageError(
                409,
                "Replay running",
                "Another request is sending this replay now: wait for it (see Replays), then "
                "post the confirmation again to continue.",
            ) from None
        except ReplayOfAnotherSelection as other:
            raise PageError(
                409,
                "Another replay",
                f"This replay was confirmed for {other.confirmed_for[:200]}, not {what[:200]}: "
                "ask for a new confirmation to replay these.",
            ) from None
        if result.sent:
            console.status.changes.bump()
        if result.stopped_because is not None:
            status = 503 if result.kafka_failed else 200
            return await confirmation(selection, result.stopped_because, status)
        if not await queries.replayed_count(selection.request_id, not_replayed=True):
            raise PageError(404, "Nothing to replay", f"No dead letter matches {what}.")
        return RedirectResponse(f"/replays?{urlencode({'request': selection.request_id})}", 303)

    @router.get("/replays")
    async def replays(request: Request, session: Viewer) -> HTMLResponse:
        highlighted = set()
        for text in request.query_params.getlist("id"):
            if not (text.isascii() and text.isdecimal()) or len(text) > 18:
                raise PageError(400, "Bad filter", f"{text[:30]!r} is not a replay id.")
            highlighted.add(int(text))
        highlighted_request = None
        if (asked := request.query_params.get("request")) is not None:
            try:
                highlighted_request = UUID(asked)
            except ValueError:
                raise PageError(400, "Bad filter", f"{asked[:40]!r} is not a replay.") from None
        return render(
            console,
            request,
            "replays.html",
            session,
            replays=await console.queries(request).replays(LISTED),
            highlighted=highlighted,
            highlighted_request=highlighted_request,
        )

    return router


def _replayed_already(addresses: list[str]) -> str:
    return (
        f"{', '.join(addresses)}: an earlier replay of it was applied, or is still on its way "
        "(see Replays). Sent again after its consumer has forgotten the event id, it would be "
        "applied twice."
    )
