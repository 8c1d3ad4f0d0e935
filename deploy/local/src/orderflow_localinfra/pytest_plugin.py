"""A session fixture with Kafka and PostgreSQL, for any test suite in the workspace.

Enable it in a conftest.py with `pytest_plugins = ["orderflow_localinfra.pytest_plugin"]`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .discovery import Infrastructure, ensure_infrastructure
from .provisioning import DEFAULT_SERVICES


@pytest.fixture(scope="session")
def orderflow_infrastructure() -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL with the four services provisioned.

    Containers stop at the end of the session. Local processes keep running so the next
    session starts at once (`orderflow-infra down` stops them), except under CI=true, where
    the servers this session started are stopped: CI leaves nothing behind.
    """
    keep_running = os.environ.get("CI", "").lower() != "true"
    infrastructure = ensure_infrastructure(
        services=DEFAULT_SERVICES, keep_local_running=keep_running
    )
    try:
        yield infrastructure
    finally:
        infrastructure.stop()
