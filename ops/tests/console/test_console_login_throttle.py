"""Failed logins slow the next ones for the same name, and never lock its owner out for long.

Review (helper 121): nothing limited login attempts; a script could try passwords as fast as
the console answered."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from orderflow_ops.console.login_throttle import LoginThrottle
from orderflow_ops.console.web_common import SESSION_COOKIE

from ops.tests.console.console_harness import csrf_token, login_pages


def test_a_names_first_failures_are_free_then_each_waits_twice_as_long_up_to_a_minute() -> None:
    throttle = LoginThrottle()
    for n in range(5):
        assert throttle.wait_s("op", now=n) == 0
        throttle.failed("op", now=n)
    assert throttle.wait_s("op", now=4) == 1
    assert throttle.wait_s("op", now=5) == 0
    throttle.failed("op", now=5)
    assert throttle.wait_s("op", now=5) == 2
    for n in range(20):
        throttle.failed("op", now=100 + n)
    assert throttle.wait_s("op", now=119) == 60, "slowed, never locked out"
    assert throttle.wait_s("someone-else", now=119) == 0


def test_a_success_or_a_quarter_hour_without_failures_starts_a_name_again() -> None:
    throttle = LoginThrottle()
    for n in range(6):
        throttle.failed("op", now=n)
    throttle.succeeded("op")
    assert throttle.wait_s("op", now=6) == 0
    for n in range(6):
        throttle.failed("viewer", now=n)
    assert throttle.wait_s("viewer", now=5) > 0
    assert throttle.wait_s("viewer", now=5 + 901) == 0


def test_names_kept_are_bounded_however_many_a_script_tries() -> None:
    throttle = LoginThrottle(names_kept=100)
    for n in range(1_000):
        throttle.failed(f"guess-{n}" + "x" * 5_000, now=n)
    assert len(throttle._failures) == 100
    assert max(map(len, throttle._failures)) <= 128


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with login_pages() as client:
        yield client


async def test_after_five_wrong_passwords_the_login_answers_429_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    form = await client.get("/login")
    token = csrf_token(form.text)
    for _ in range(5):
        wrong = await client.post(
            "/login", data={"username": "op", "password": "guess", "csrf_token": token}
        )
        assert wrong.status_code == 401

    right = {"username": "op", "password": "op-secret-1", "csrf_token": token}
    slowed = await client.post("/login", data=right)

    assert slowed.status_code == 429
    assert slowed.headers["retry-after"] == "1"
    assert "Too many failed logins for this name" in slowed.text
    assert SESSION_COOKIE not in slowed.cookies, "not even the right password, while it waits"
    viewer = {"username": "view", "password": "view-secret-2", "csrf_token": token}
    assert (await client.post("/login", data=viewer)).status_code == 303
