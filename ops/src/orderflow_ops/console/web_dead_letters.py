"""Dead letters: the list with a safe preview, filters, and replay (confirmed, audited)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from orderflow_contracts.card_data import redact_card_numbers

from orderflow_ops.console.read_model_queries import DeadLetterFilter
from orderflow_ops.console.replay import replay_letters
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


def _first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def dead_letters_router(console: Console) -> APIRouter:
    router = console_router(console)

    @router.get("/dead-letters")
    async def dead_letters(request: Request, session: Viewer) -> HTMLResponse:
        selected = parse_filter(request.query_params)
        queries = console.queries(request)
        rows = await queries.dead_letters(selected, LISTED)
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
        chosen = await console.queries(request).letters_to_replay(selected, addresses)
        if addresses and len(chosen) != len(set(addresses)):
            raise PageError(404, "Not found", "A chosen dead letter is not in the read model.")
        what = (
            ", ".join(f"{t}:{p}:{o}" for t, p, o in addresses)
            if addresses
            else f"all matching {selected.describe()}"
        )
        if _first(form, "confirm") != "yes":
            return render(
                console,
                request,
                "replay_confirm.html",
                session,
                chosen=chosen[:CONFIRM_SHOWN],
                total=len(chosen),
                what=what,
                selected=selected,
                addresses=[f"{t}:{p}:{o}" for t, p, o in addresses],
                replay_all=not addresses,
            )
        if not chosen:
            raise PageError(404, "Nothing to replay", f"No dead letter matches {what}.")
        result = await replay_letters(
            request.app.state.resources.pool,
            console.settings.db_schema,
            console.settings.kafka_bootstrap_servers,
            chosen,
            session=session,
            selection=what,
            now=datetime.now(UTC),
        )
        console.status.changes.bump()
        query = urlencode([("id", str(audit_id)) for audit_id in result.audit_ids])
        return RedirectResponse(f"/replays?{query}", status_code=303)

    @router.get("/replays")
    async def replays(request: Request, session: Viewer) -> HTMLResponse:
        highlighted = set()
        for text in request.query_params.getlist("id"):
            if not (text.isascii() and text.isdecimal()) or len(text) > 18:
                raise PageError(400, "Bad filter", f"{text[:30]!r} is not a replay id.")
            highlighted.add(int(text))
        return render(
            console,
            request,
            "replays.html",
            session,
            replays=await console.queries(request).replays(LISTED),
            highlighted=highlighted,
        )

    return router
