"""A session fixture with Kafka and PostgreSQL, for any test suite in the workspace.

Enable it in a conftest.py with `pytest_plugins = ["orderflow_localinfra.pytest_plugin"]`.

Under pytest-xdist (`pytest -n 2`, as `make test` runs), the controlling process finds or
starts the servers once, before any worker exists, and hands them to the workers through
`KAFKA_BOOTSTRAP_SERVERS` and `DATABASE_URL`: a worker never deletes topics or stops servers
another worker is using. Each worker gets a database of its own on the shared server
(`<database>_gw0_<run id>`...), every service provisioned in it: service schemas have fixed
names, and two tests of different workers on one schema would share its outbox, its relay
lease and its periodic jobs. Topics need nothing more: every test has its own prefix.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .blocking import run_to_completion
from .discovery import DATABASE_ENV, KAFKA_ENV, Infrastructure, Provenance, ensure_infrastructure
from .isolation import database_name, drop_database, fresh_database
from .leftover_topics import delete_test_topics
from .provisioning import PROVISIONED_SERVICES

_SHARED_BY_WORKERS = pytest.StashKey[Infrastructure]()


def _found_or_started() -> Infrastructure:
    """The servers, provisioned, with the local broker cleared of earlier sessions' topics.

    Containers stop at the end of the session. Local processes keep running so the next
    session starts at once (`orderflow-infra down` stops them), except under CI=true, where
    the servers this session started are stopped: CI leaves nothing behind.
    """
    keep_running = os.environ.get("CI", "").lower() != "true"
    infrastructure = ensure_infrastructure(
        services=PROVISIONED_SERVICES, keep_local_running=keep_running
    )
    if infrastructure.kafka_provenance is Provenance.LOCAL:
        run_to_completion(delete_test_topics(infrastructure.kafka_bootstrap_servers))
    return infrastructure


def _is_xdist_controller(config: pytest.Config) -> bool:
    workers = config.getoption("numprocesses", default=None)
    return bool(workers) and not hasattr(config, "workerinput")


def _runs_no_test(config: pytest.Config) -> bool:
    return any(
        config.getoption(name, default=False)
        for name in ("collectonly", "help", "markers", "showfixtures", "show_fixtures_per_test")
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # Before xdist's own session start, which spawns the workers with this environment.
    if not _is_xdist_controller(config) or _runs_no_test(config):
        return
    infrastructure = _found_or_started()
    config.stash[_SHARED_BY_WORKERS] = infrastructure
    os.environ[KAFKA_ENV] = infrastructure.kafka_bootstrap_servers
    os.environ[DATABASE_ENV] = infrastructure.admin_database_url


def pytest_unconfigure(config: pytest.Config) -> None:
    infrastructure = config.stash.get(_SHARED_BY_WORKERS, None)
    if infrastructure is not None:
        infrastructure.stop()


@pytest.fixture(scope="session")
def orderflow_infrastructure() -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL with the four services and the console provisioned (see
    ``_found_or_started``); under xdist, the controller's servers and the worker's database."""
    infrastructure = _found_or_started()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    try:
        if worker is None:
            yield infrastructure
            return
        # The run's id too: another session's workers on the same server have databases of
        # their own (a crashed session's is left, as an isolated run's would be).
        run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8]
        name = f"{database_name(infrastructure)}_{worker}_{run}".rstrip("_")
        yield run_to_completion(fresh_database(infrastructure, name, PROVISIONED_SERVICES))
        run_to_completion(drop_database(infrastructure.admin_database_url, name))
    finally:
        infrastructure.stop()
