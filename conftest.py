# One session-wide Kafka + PostgreSQL fixture for every test suite in the workspace.
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

pytest_plugins = ["orderflow_localinfra.pytest_plugin"]


@pytest.fixture(autouse=True, scope="session")
def _loggers_never_cached() -> Iterator[None]:
    """structlog caches a logger on its first use after ``configure``: a service run in-process
    by one test (its runtime configures logging) left every module logger it used bound to
    that configuration, and a later test of the same worker that captures logs
    (``structlog.testing.capture_logs``) saw nothing of them. Tests never cache."""
    configure = structlog.configure

    def configure_without_cache(*args: Any, **kwargs: Any) -> None:
        kwargs["cache_logger_on_first_use"] = False
        configure(*args, **kwargs)

    structlog.configure = configure_without_cache
    try:
        yield
    finally:
        structlog.configure = configure
