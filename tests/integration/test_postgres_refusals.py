"""A service that PostgreSQL will not let in stops at once with the reason, exit code 2 and no
traceback: a wrong password or an unknown database is the operator's to fix, not to wait out."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest
from orderflow_localinfra.discovery import Infrastructure
from orderflow_localinfra.dsn import with_credentials, with_database

from tests.support.service_harness import run_service_command

pytestmark = pytest.mark.integration


def run_cart(infrastructure: Infrastructure, database_url: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": infrastructure.kafka_bootstrap_servers,
        "CART_DATABASE_URL": database_url,
        "CART_HTTP_PORT": "0",
    }
    return run_service_command("cart", environment, timeout_s=60)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda url: with_credentials(url, user="orderflow_cart", password="wrong-password"),
        lambda url: with_database(url, "orderflow_no_such_database"),
    ],
    ids=["wrong password", "unknown database"],
)
def test_a_refused_connection_stops_the_start_naming_it(
    infrastructure: Infrastructure, spoil: Callable[[str], str]
) -> None:
    result = run_cart(infrastructure, spoil(infrastructure.service_database_urls["cart"]))

    assert result.returncode == 2, result.stderr[-2000:]
    assert "orderflow-cart: cannot start: PostgreSQL refused the connection" in result.stderr
    assert "Traceback" not in result.stderr
