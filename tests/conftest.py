"""Cross-service test fixtures.

``infrastructure`` finds or starts a real Kafka broker and PostgreSQL server (in order:
``KAFKA_BOOTSTRAP_SERVERS``/``DATABASE_URL``, testcontainers when Docker answers, else the
local no-Docker scripts of deploy/local) and provisions one schema and role per service,
plus the probe services that the chassis tests use.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from orderflow_localinfra.discovery import Infrastructure, ensure_infrastructure
from orderflow_localinfra.provisioning import DEFAULT_SERVICES

PROBE_SERVICES = ("probe_a", "probe_b")


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    with ensure_infrastructure(services=[*DEFAULT_SERVICES, *PROBE_SERVICES]) as found:
        yield found
