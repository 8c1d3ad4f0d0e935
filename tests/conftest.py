"""Cross-service test fixtures.

``infrastructure`` is the workspace's session fixture (``orderflow_infrastructure``: a real
Kafka broker and PostgreSQL server, found or started — see orderflow_localinfra.discovery) with
the probe services that the chassis tests use provisioned as well.
"""

from __future__ import annotations

import pytest
from orderflow_localinfra.discovery import Infrastructure

PROBE_SERVICES = ("probe_a", "probe_b", "probe_c", "probe_d")


@pytest.fixture(scope="session")
def infrastructure(orderflow_infrastructure: Infrastructure) -> Infrastructure:
    orderflow_infrastructure.provision(PROBE_SERVICES)
    return orderflow_infrastructure
