from pathlib import Path

import pytest
from orderflow_chassis.migrations import MigrationError, chassis_migrations, load_migrations


def test_migrations_load_in_version_order_and_ignore_other_files(tmp_path: Path) -> None:
    (tmp_path / "0002_add_index.sql").write_text("CREATE INDEX ...;")
    (tmp_path / "0001_create.sql").write_text("CREATE TABLE {schema}.t ();")
    (tmp_path / "README.md").write_text("not a migration")

    migrations = load_migrations("svc", tmp_path)

    assert [(m.version, m.name) for m in migrations] == [(1, "create"), (2, "add_index")]


def test_two_migrations_with_one_version_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 2;")
    with pytest.raises(MigrationError, match="share a version"):
        load_migrations("svc", tmp_path)


def test_a_changed_migration_has_a_different_checksum(tmp_path: Path) -> None:
    path = tmp_path / "0001_a.sql"
    path.write_text("SELECT 1;")
    before = load_migrations("svc", tmp_path)[0].checksum
    path.write_text("SELECT 2;")
    assert load_migrations("svc", tmp_path)[0].checksum != before


def test_the_chassis_ships_its_outbox_and_inbox_tables() -> None:
    sql = "\n".join(m.sql for m in chassis_migrations())
    for table in ("outbox", "outbox_sequences", "inbox", "consumer_positions"):
        assert f"{{schema}}.{table} " in sql
