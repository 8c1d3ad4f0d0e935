"""A private PostgreSQL server for a test that must stop and start its server without touching
the one other tests share (they run at the same time under ``pytest -n``).

The checkout's binaries (installed as ``orderflow-infra up`` installs them), its own data
folder and a free port; the same settings, roles and provisioning as the shared server.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orderflow_localinfra.discovery import Infrastructure, Provenance
from orderflow_localinfra.isolation import provisioned_on
from orderflow_localinfra.layout import StateLayout
from orderflow_localinfra.postgres import PostgresServer, PostgresSettings
from orderflow_localinfra.provisioning import PROVISIONED_SERVICES
from orderflow_ops.local_ports import free_port_block


@contextmanager
def private_postgres(*, timeout: float = 120) -> Iterator[PostgresServer]:
    """Start a server of its own, its admin role and database made; stop and remove it after."""
    shared = StateLayout.discover()
    # Under /tmp rather than pytest's 0700 folders: the server runs as the OS user `postgres`
    # when the tests run as root, and must reach its own files.
    home = Path(tempfile.mkdtemp(prefix="orderflow-pg-"))
    home.chmod(0o755)
    layout = StateLayout(root=home, kafka_pom=shared.kafka_pom, postgres_home=home / "postgres")
    # Below the ephemeral range: while the test has it stopped, no client connection can take
    # its port.
    server = PostgresServer(layout, PostgresSettings(port=free_port_block(1)))
    try:
        server.start(timeout=timeout)
        server.bootstrap_admin()
        yield server
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)


async def on_server(infrastructure: Infrastructure, server: PostgresServer) -> Infrastructure:
    """``infrastructure`` (its broker) with ``server`` as its PostgreSQL, provisioned as the
    shared one is."""
    own = await provisioned_on(
        infrastructure, server.settings.admin_database_url, PROVISIONED_SERVICES
    )
    return dataclasses.replace(own, postgres_provenance=Provenance.LOCAL)
