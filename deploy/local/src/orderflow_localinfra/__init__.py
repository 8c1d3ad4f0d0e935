"""Real Apache Kafka and PostgreSQL for Orderflow, with or without Docker.

The public API:

- `ensure_infrastructure(services=...) -> Infrastructure`: find (environment variables) or
  start (testcontainers, else local processes) Kafka and PostgreSQL and provision services;
- `provision_services(admin_dsn, services) -> dict[str, str]` (async): one role and one
  schema per service, against any PostgreSQL admin DSN;
- `LocalStack`: the local processes behind the `orderflow-infra` command.
"""

from .discovery import (
    Infrastructure,
    Provenance,
    docker_engine_answers,
    ensure_infrastructure,
)
from .errors import (
    DependencyFetchFailed,
    InfraError,
    PortTaken,
    PrerequisiteMissing,
    StartupFailed,
)
from .local_stack import LocalStack, UpReport
from .provisioning import (
    DEFAULT_SERVICES,
    PROVISIONED_SERVICES,
    InvalidServiceName,
    provision_services,
    service_database_url,
    service_role,
    validate_service_name,
)

__all__ = [
    "DEFAULT_SERVICES",
    "PROVISIONED_SERVICES",
    "DependencyFetchFailed",
    "InfraError",
    "Infrastructure",
    "InvalidServiceName",
    "LocalStack",
    "PortTaken",
    "PrerequisiteMissing",
    "Provenance",
    "StartupFailed",
    "UpReport",
    "docker_engine_answers",
    "ensure_infrastructure",
    "provision_services",
    "service_database_url",
    "service_role",
    "validate_service_name",
]
