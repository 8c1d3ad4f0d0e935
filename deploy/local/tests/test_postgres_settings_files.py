"""The generated PostgreSQL configuration (no server needed)."""

from pathlib import Path

from orderflow_localinfra.postgres import (
    PostgresSettings,
    render_pg_hba_conf,
    render_postgresql_conf,
)


def test_server_listens_on_loopback_only_with_a_private_socket(tmp_path: Path) -> None:
    conf = render_postgresql_conf(PostgresSettings(), tmp_path / "run")
    assert "listen_addresses = '127.0.0.1'" in conf
    assert "port = 15432" in conf
    assert f"unix_socket_directories = '{tmp_path / 'run'}'" in conf
    assert "unix_socket_permissions = 0700" in conf
    assert "password_encryption = 'scram-sha-256'" in conf


def test_socket_path_quotes_are_escaped(tmp_path: Path) -> None:
    conf = render_postgresql_conf(PostgresSettings(), tmp_path / "it's")
    assert f"unix_socket_directories = '{tmp_path}/it''s'" in conf


def test_tcp_connections_need_a_scram_password() -> None:
    host_lines = [
        line.split()
        for line in render_pg_hba_conf(PostgresSettings()).splitlines()
        if line.startswith("host")
    ]
    assert host_lines == [["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]]


def test_admin_url_uses_the_documented_development_credentials() -> None:
    assert PostgresSettings().admin_database_url == (
        "postgresql://orderflow_admin:orderflow_admin@127.0.0.1:15432/orderflow"
    )
