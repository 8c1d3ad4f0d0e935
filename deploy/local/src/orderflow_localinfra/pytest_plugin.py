"""A session fixture with Kafka and PostgreSQL, for any test suite in the workspace.

Enable it in a conftest.py with `pytest_plugins = ["orderflow_localinfra.pytest_plugin"]`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .blocking import run_to_completion
from .discovery import Infrastructure, Provenance, ensure_infrastructure
from .leftover_topics import delete_test_topics
from .provisioning import PROVISIONED_SERVICES


@pytest.fixture(scope="session")
def orderflow_infrastructure() -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL with the four services and the console provisioned.

    Containers stop at the end of the session. Local processes keep running so the next
    session starts at once (`orderflow-infra down` stops them), except under CI=true, where
    the servers this session started are stopped: CI leaves nothing behind. On the local
    broker, the test topics of earlier sessions are deleted first (see ``leftover_topics``).
    """
    keep_running = os.environ.get("CI", "").lower() != "true"
    infrastructure = ensure_infrastructure(
        services=PROVISIONED_SERVICES, keep_local_running=keep_running
    )
    if infrastructure.kafka_provenance is Provenance.LOCAL:
        run_to_completion(delete_test_topics(infrastructure.kafka_bootstrap_servers))
    try:
        yield infrastructure
    finally:
        infrastructure.stop()
