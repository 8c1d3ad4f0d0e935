"""ORDERFLOW_ENV=production: the console refuses what the services refuse (plaintext Kafka,
development database passwords, addresses left to their defaults) and its own development
defaults (no users, guessable passwords, a session key generated per process, cookies over
plain HTTP), all at once, before it connects to anything."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from orderflow_chassis.production_profile import ProductionProfileError
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.settings import ServiceSettings
from orderflow_ops.console.app import SERVICE_NAME, build_console
from orderflow_ops.console.settings import ConsoleSettings

STRONG = "9f1c2a7be04d5e36a8b1"
GOOD_CONSOLE: dict[str, Any] = {
    "users": f"alice:operator:{STRONG},bob:viewer:{STRONG[::-1]}",
    "session_secret": "d" * 64,
    "cookie_secure": True,
}


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell running the tests may point at a broker; these tests set what they need."""
    for name in ("ORDERFLOW_ENV", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("KAFKA_ALLOW_PLAINTEXT", raising=False)


def console_refusals(**overrides: Any) -> list[str]:
    return ConsoleSettings(**{**GOOD_CONSOLE, **overrides}).production_refusals()


def test_a_console_configured_for_production_has_nothing_to_fix() -> None:
    assert console_refusals() == []


def test_no_users_is_refused() -> None:
    [refusal] = console_refusals(users="")

    assert refusal.startswith("CONSOLE_USERS is not set: nobody could log in")
    assert "openssl rand" in refusal


@pytest.mark.parametrize(
    "users", ["alice:operator:short-pw", "alice:operator:alice", "bob:viewer:viewer"]
)
def test_a_guessable_password_is_refused_naming_the_entry_not_its_text(users: str) -> None:
    [refusal] = console_refusals(users=f"{users},carol:viewer:{STRONG}")

    name, _, password = users.split(":")
    assert refusal.startswith("CONSOLE_USERS: the password of entry 1 is shorter than 12")
    assert "carol" not in refusal
    assert name not in refusal, "a name may be a password written in the wrong place"
    assert password not in refusal


@pytest.mark.parametrize(("secret", "state"), [("", "is not set"), ("abc", "is too short")])
def test_a_session_key_generated_per_process_is_refused(secret: str, state: str) -> None:
    [refusal] = console_refusals(session_secret=secret)

    assert refusal.startswith(f"CONSOLE_SESSION_SECRET {state}: ")
    assert "instances reject each other's sessions" in refusal


def test_a_cookie_that_may_travel_over_plain_http_is_refused() -> None:
    [refusal] = console_refusals(cookie_secure=False)

    assert refusal.startswith("CONSOLE_COOKIE_SECURE is false")
    assert "CONSOLE_COOKIE_SECURE=true" in refusal


def test_development_needs_none_of_it() -> None:
    settings = ServiceSettings.for_service(
        SERVICE_NAME, database_url="postgresql://console:console-local-password@127.0.0.1/x"
    )

    service = build_console(settings, ConsoleSettings(users="", session_secret=""))

    assert service.definition.production_refusals == ()


def test_the_production_console_refuses_the_services_refusals_and_its_own_at_start() -> None:
    """With development defaults left everywhere: the chassis' refusals (plaintext Kafka, the
    development database password, the addresses) and the console's, in one list."""
    settings = ServiceSettings.for_service(
        SERVICE_NAME,
        environment="production",
        database_url="postgresql://orderflow_console:console-local-password@db/orderflow",
        # Nothing listens here: a console that got past its refusals would fail differently.
        kafka_bootstrap_servers="127.0.0.1:9",
    )
    service = build_console(settings, ConsoleSettings(users="", session_secret=""))
    runtime = ServiceRuntime(service.definition, settings, hooks=service.hooks)

    with pytest.raises(ProductionProfileError) as refused:
        asyncio.run(runtime.start())

    message = str(refused.value)
    assert message.startswith("console: ORDERFLOW_ENV=production refuses to start")
    for expected in (
        "KAFKA_SECURITY_PROTOCOL is PLAINTEXT",
        "CONSOLE_DATABASE_URL uses the development password",
        "CONSOLE_HTTP_HOST is not set",
        "CONSOLE_HTTP_PORT is not set",
        "CONSOLE_USERS is not set",
        "CONSOLE_SESSION_SECRET is not set",
        "CONSOLE_COOKIE_SECURE is false",
    ):
        assert expected in message
