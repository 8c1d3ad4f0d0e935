"""A session fixture with Kafka and PostgreSQL, for any test suite in the workspace.

Enable it in a conftest.py with `pytest_plugins = ["orderflow_localinfra.pytest_plugin"]`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .discovery import Infrastructure, ensure_infrastructure
from .provisioning import DEFAULT_SERVICES


@pytest.fixture(scope="session")
def orderflow_infrastructure() -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL with the four services provisioned.

    Containers stop at the end of the session; local processes keep running so the next
    session starts at once (`orderflow-infra down` stops them).
    """
    infrastructure = ensure_infrastructure(services=DEFAULT_SERVICES)
    try:
        yield infrastructure
    finally:
        infrastructure.stop()
