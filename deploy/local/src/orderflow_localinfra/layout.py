"""Where the local infrastructure keeps its files.

Everything lives under one git-ignored folder, `<repository>/.local-infra/` by default:

    .local-infra/
      lock                       serialises concurrent `up`/`down` (two test sessions at once)
      kafka/libs/                jars fetched by Maven (kept by `reset`)
      kafka/config/              generated server.properties and log4j2.properties
      kafka/data/                KRaft metadata and topic logs
      kafka/logs/                server.log, kafka.out (JVM stdout/stderr), maven.log
      kafka/kafka.pid
      postgres/data/             the cluster's data directory
      postgres/logs/             postgresql.log, initdb.log, pg_ctl.log, apt.log
      postgres/run/              the unix socket (owner-only)

Exception: run as root from a checkout that other users cannot reach (e.g. inside a 0700
`mktemp -d` folder), the server, which runs as the `postgres` user, could not read its own
files there; `postgres/` then lives in `/var/lib/orderflow-localinfra/<hash of the path>/`.
`orderflow-infra status` shows where.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from .errors import InfraError

STATE_DIR_ENV = "ORDERFLOW_LOCAL_INFRA_DIR"
STATE_DIR_NAME = ".local-infra"
_POM_RELATIVE = Path("deploy/local/kafka/pom.xml")


def find_repository_root(start: Path | None = None) -> Path:
    """The checkout this package runs from: the nearest folder holding the Kafka pom.

    The package is installed in editable mode by the uv workspace, so its source file sits
    inside the checkout; the current directory is tried as a second chance.
    """
    candidates = [Path(__file__).resolve(), (start or Path.cwd()).resolve()]
    for candidate in candidates:
        for folder in (candidate, *candidate.parents):
            if (folder / _POM_RELATIVE).is_file():
                return folder
    raise InfraError(
        f"cannot find the Orderflow checkout ({_POM_RELATIVE} was not found above "
        f"{candidates[0].parent} nor above {candidates[1]})",
        "run from inside the repository, with the workspace installed by `uv sync`",
    )


# Where PostgreSQL's files go when the OS user `postgres` cannot reach the checkout (a clone
# in a private 0700 folder, as `mktemp -d` makes): one folder per checkout, keyed by its path.
SHARED_POSTGRES_ROOT = Path("/var/lib/orderflow-localinfra")


@dataclass(frozen=True)
class StateLayout:
    """Paths of every file the local infrastructure reads or writes."""

    root: Path
    kafka_pom: Path
    postgres_home: Path | None = None  # None: <root>/postgres

    @classmethod
    def discover(cls) -> StateLayout:
        repository = find_repository_root()
        override = os.environ.get(STATE_DIR_ENV)
        root = Path(override).resolve() if override else repository / STATE_DIR_NAME
        postgres_home = None
        if os.geteuid() == 0 and not _world_searchable(repository):
            digest = hashlib.sha256(str(root).encode()).hexdigest()[:12]
            postgres_home = SHARED_POSTGRES_ROOT / digest / "postgres"
        return cls(root=root, kafka_pom=repository / _POM_RELATIVE, postgres_home=postgres_home)

    @property
    def lock_file(self) -> Path:
        return self.root / "lock"

    # Kafka

    @property
    def kafka_dir(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka_dir / "libs"

    @property
    def kafka_config_dir(self) -> Path:
        return self.kafka_dir / "config"

    @property
    def kafka_server_properties(self) -> Path:
        return self.kafka_config_dir / "server.properties"

    @property
    def kafka_log4j_config(self) -> Path:
        return self.kafka_config_dir / "log4j2.properties"

    @property
    def kafka_data(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def kafka_logs(self) -> Path:
        return self.kafka_dir / "logs"

    @property
    def kafka_server_log(self) -> Path:
        return self.kafka_logs / "server.log"

    @property
    def kafka_console_log(self) -> Path:
        return self.kafka_logs / "kafka.out"

    @property
    def maven_log(self) -> Path:
        return self.kafka_logs / "maven.log"

    @property
    def kafka_pid_file(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    # PostgreSQL

    @property
    def postgres_dir(self) -> Path:
        return self.postgres_home or self.root / "postgres"

    @property
    def postgres_data(self) -> Path:
        return self.postgres_dir / "data"

    @property
    def postgres_logs(self) -> Path:
        return self.postgres_dir / "logs"

    @property
    def postgres_server_log(self) -> Path:
        return self.postgres_logs / "postgresql.log"

    @property
    def postgres_socket_dir(self) -> Path:
        return self.postgres_dir / "run"


def _world_searchable(folder: Path) -> bool:
    """Can any user reach ``folder``? (The server runs as `postgres` when we are root.)

    Decided from permission bits, not by asking the `postgres` user, so the answer is the same
    before and after PostgreSQL's package creates that user.
    """
    return all(path.stat().st_mode & stat.S_IXOTH for path in (folder, *folder.parents))
