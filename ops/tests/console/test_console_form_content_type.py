"""The console reads a form only from a body sent as one (Content-Type
application/x-www-form-urlencoded): that is what the HTTP guard decodes and screens for card
numbers, so a form sent as text/plain (or any other type) is refused with 415, unread."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from orderflow_ops.console.web_common import SESSION_COOKIE

from ops.tests.console.console_harness import csrf_token, login_pages

# Percent-encoded, the digits are no card number to a screen of the raw bytes.
ENCODED_PAN = "".join(f"%{ord(digit):02X}" for digit in "4111111111111111")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with login_pages(guarded=True) as client:
        yield client


async def _login_body(client: httpx.AsyncClient, username: str = "op") -> str:
    token = csrf_token((await client.get("/login")).text)
    return f"username={username}&password=op-secret-1&csrf_token={token}"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded;charset=utf-8",
    ],
)
async def test_a_login_sent_as_a_form_succeeds_with_or_without_a_charset(
    client: httpx.AsyncClient, content_type: str
) -> None:
    body = await _login_body(client)

    answer = await client.post("/login", content=body, headers={"content-type": content_type})

    assert answer.status_code == 303, answer.text
    assert SESSION_COOKIE in answer.cookies


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded-x",
        "multipart/form-data; boundary=x",
        "application/json",
        None,
    ],
)
async def test_a_form_body_of_another_content_type_is_refused_with_415_unread(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    body = await _login_body(client)
    headers = {"content-type": content_type} if content_type else {}

    answer = await client.post("/login", content=body, headers=headers)

    assert answer.status_code == 415, answer.text
    assert "must be sent as a form" in answer.text
    assert SESSION_COOKIE not in answer.cookies


async def test_a_card_number_in_a_form_is_refused_by_the_guard_and_as_text_by_the_console(
    client: httpx.AsyncClient,
) -> None:
    body = await _login_body(client, username=ENCODED_PAN)

    as_form = await client.post(
        "/login", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    as_text = await client.post("/login", content=body, headers={"content-type": "text/plain"})

    assert as_form.status_code == 422  # screened as a form by the HTTP guard
    assert as_text.status_code == 415  # not screened as a form: not read as one either
