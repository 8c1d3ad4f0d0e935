"""``orderflow-ops check`` asks the services what only they can check: fulfillment at its
configured port, the payment ledger with a settle window, and it says what was checked."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
from orderflow_fulfillment.bootstrap import build_definition
from orderflow_fulfillment.settings import FulfillmentSettings
from orderflow_localinfra.discovery import Infrastructure
from orderflow_ops.cli import app
from typer.testing import CliRunner

from tests.support.service_harness import running_service, service_settings, unique_prefix
from tests.support.system_harness import free_port

pytestmark = pytest.mark.integration


async def test_stock_is_asked_at_fulfillments_configured_port_and_an_empty_ledger_is_not_reconciled(
    orderflow_infrastructure: Infrastructure,
) -> None:
    infrastructure = orderflow_infrastructure
    prefix, port = unique_prefix("ops-services"), free_port()
    settings = service_settings(infrastructure, "fulfillment", topic_prefix=prefix, http_port=port)
    definition = build_definition(settings, fulfillment=FulfillmentSettings(seed_file=""))
    env = {
        "FULFILLMENT_HTTP_PORT": str(port),
        "DATABASE_URL": infrastructure.admin_database_url,
        "PAYMENT_DATABASE_URL": infrastructure.service_database_urls["payment"],
    }
    arguments = [
        "check",
        *("--bootstrap-servers", infrastructure.kafka_bootstrap_servers),
        *("--topic-prefix", prefix),
        # A settle window longer than any test database has existed: every payment is still
        # "in flight", so the ledger check has nothing to look at.
        *("--settle-seconds", "100000000"),
    ]
    migrate = [sys.executable, "-m", "orderflow_payment", "migrate"]  # its schema may be new
    await asyncio.to_thread(subprocess.run, migrate, env={**os.environ, **env}, check=True)
    async with running_service(definition, settings):
        result = await asyncio.to_thread(CliRunner().invoke, app, arguments, env=env)

    assert f"stock levels (http://127.0.0.1:{port}/stock)" in result.output, result.output
    assert "not reachable" not in result.output
    assert "payment ledger: nothing to check: no order settled" in result.output
    assert "0 order(s) in the payment ledger" in result.output
