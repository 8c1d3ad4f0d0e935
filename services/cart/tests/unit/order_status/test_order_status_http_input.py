"""What the order-status routes make of a client's headers and cursors, without a server."""

from __future__ import annotations

import base64

import pytest
from fastapi import HTTPException
from orderflow_cart.order_status.entrypoints.http import _decode_cursor, _last_event_id
from starlette.requests import Request


def request_with(last_event_id: bytes) -> Request:
    return Request({"type": "http", "headers": [(b"last-event-id", last_event_id)]})


@pytest.mark.parametrize(
    ("header", "version"),
    [(b"7", 7), (b"", 0), (b"\xb2", 0), (b"-1", 0), (b"1" * 19, 0), (b"\xd9\xa3", 0)],
)
def test_a_last_event_id_is_a_version_in_ascii_digits_or_nothing(
    header: bytes, version: int
) -> None:
    # "²" (0xB2 as latin-1) passes str.isdigit() and int() refuses it: that was a 500.
    assert _last_event_id(request_with(header)) == version


def test_a_cursor_whose_time_the_database_cannot_hold_is_malformed() -> None:
    # Well formed, but 0001-01-01 at +14:00 is before year 1 in UTC: a 500 from asyncpg.
    raw = b"0001-01-01T00:00:00+14:00|00000000-0000-0000-0000-000000000000"
    with pytest.raises(HTTPException) as refused:
        _decode_cursor(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    assert refused.value.status_code == 400
