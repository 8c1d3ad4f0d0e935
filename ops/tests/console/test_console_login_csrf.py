"""The login form is protected against CSRF (login CSRF: another site logging a victim's browser
in as the attacker): a login post without the form's token, or with a token of another login
nonce, is refused with 403 and a message, before the password is even checked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from orderflow_ops.console.web_common import SESSION_COOKIE
from orderflow_ops.console.web_login import LOGIN_NONCE_COOKIE

from ops.tests.console.console_harness import csrf_token, login_pages

OPERATOR = {"username": "op", "password": "op-secret-1"}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with login_pages() as client:
        yield client


async def test_the_login_form_carries_a_token_and_with_it_the_login_succeeds(
    client: httpx.AsyncClient,
) -> None:
    form = await client.get("/login")
    assert form.status_code == 200
    assert LOGIN_NONCE_COOKIE in form.cookies

    answer = await client.post("/login", data={**OPERATOR, "csrf_token": csrf_token(form.text)})

    assert answer.status_code == 303, answer.text
    assert SESSION_COOKIE in answer.cookies


async def test_a_login_post_without_the_token_is_refused_with_403_and_a_message(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/login")  # the nonce cookie is there; the form's token is not

    answer = await client.post("/login", data=OPERATOR)

    assert answer.status_code == 403
    assert "CSRF token is missing or wrong" in answer.text
    assert SESSION_COOKIE not in answer.cookies
    # The page answered is a fresh login form the person can use right away.
    retried = await client.post("/login", data={**OPERATOR, "csrf_token": csrf_token(answer.text)})
    assert retried.status_code == 303


async def test_a_token_of_another_nonce_or_no_nonce_cookie_is_refused(
    client: httpx.AsyncClient,
) -> None:
    # What a forging site can do: fetch its own form (its own nonce) and post that token, but
    # the victim's browser sends the victim's nonce cookie, or none (SameSite=Strict).
    attackers = await client.get("/login")
    token = csrf_token(attackers.text)
    client.cookies.set(LOGIN_NONCE_COOKIE, "0" * 32, path="/login")
    forged = await client.post("/login", data={**OPERATOR, "csrf_token": token})
    assert forged.status_code == 403
    client.cookies.clear()
    cookieless = await client.post("/login", data={**OPERATOR, "csrf_token": token})
    assert cookieless.status_code == 403
    assert "CSRF token is missing or wrong" in cookieless.text
