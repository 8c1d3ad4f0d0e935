"""One least-privilege database role and one schema per service.

Works against the local server or any PostgreSQL reachable with an admin DSN (a superuser, or
a role with CREATEROLE that owns the database). Each service `<name>` gets:

- a LOGIN role `orderflow_<name>` whose password is `$ORDERFLOW_<NAME>_DB_PASSWORD`, or
  `<name>-local-password` for local development;
- a schema `<name>` owned by that role, with nothing granted to anyone else, and the role's
  `search_path` set to it;
- CONNECT and TEMPORARY on the database, which are revoked from PUBLIC so that only
  provisioned roles (and the admin) connect.

CREATE on schema `public` is revoked from PUBLIC (PostgreSQL 15's default, made explicit for
older servers), so a service can create objects only in its own schema and can neither read
nor write another service's.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence

import asyncpg

from .dsn import with_credentials

DEFAULT_SERVICES: tuple[str, ...] = ("cart", "payment", "fulfillment", "returns")
"""The four services of the pipeline (what ``make run`` and the benchmark start)."""
PROVISIONED_SERVICES: tuple[str, ...] = (*DEFAULT_SERVICES, "console")
"""Everything that gets a schema and a role: the pipeline's services and the ops console,
which keeps its own read model like any service."""
ROLE_PREFIX = "orderflow_"
_SERVICE_NAME = re.compile(r"[a-z][a-z0-9_]*")
# PostgreSQL truncates identifiers at 63 bytes; the role name carries the prefix.
MAX_SERVICE_NAME_LENGTH = 63 - len(ROLE_PREFIX)
# Names that would collide with PostgreSQL's own schemas or with the admin role.
_RESERVED_NAMES = frozenset({"public", "information_schema", "admin"})
# Same key for every caller, so concurrent provisioning runs queue instead of racing.
_ADVISORY_LOCK_KEY = "orderflow-localinfra:provision_services"
_CATALOG_RACE_ATTEMPTS = 20


class InvalidServiceName(ValueError):
    pass


def validate_service_name(name: str) -> str:
    """Return `name` if it is safe as both a schema name and a role-name suffix."""
    if not _SERVICE_NAME.fullmatch(name):
        raise InvalidServiceName(
            f"invalid service name {name!r}: use lowercase letters, digits and underscores, "
            "starting with a letter"
        )
    if len(name) > MAX_SERVICE_NAME_LENGTH:
        raise InvalidServiceName(
            f"invalid service name {name!r}: at most {MAX_SERVICE_NAME_LENGTH} characters"
        )
    if name in _RESERVED_NAMES or name.startswith("pg_"):
        raise InvalidServiceName(f"invalid service name {name!r}: reserved by PostgreSQL or us")
    return name


def service_role(service: str) -> str:
    return ROLE_PREFIX + validate_service_name(service)


def service_password_env_var(service: str) -> str:
    return f"ORDERFLOW_{validate_service_name(service).upper()}_DB_PASSWORD"


def service_password(service: str, environ: Mapping[str, str] | None = None) -> str:
    """The service role's password: from its environment variable, else the local default."""
    environ = os.environ if environ is None else environ
    return environ.get(service_password_env_var(service)) or f"{service}-local-password"


def service_database_url(
    admin_database_url: str, service: str, environ: Mapping[str, str] | None = None
) -> str:
    """The DSN a service connects with: the admin DSN's address, the service's credentials."""
    return with_credentials(
        admin_database_url,
        user=service_role(service),
        password=service_password(service, environ),
    )


async def provision_services(admin_dsn: str, services: Sequence[str]) -> dict[str, str]:
    """Create or refresh each service's role and schema; return each service's DSN.

    Idempotent: safe to run on every start, and concurrently (an advisory lock serialises
    runs). Passwords are reset each time, so a changed environment variable takes effect.
    """
    names = list(dict.fromkeys(validate_service_name(service) for service in services))
    connection = await asyncpg.connect(admin_dsn)
    try:
        for attempt in range(1, _CATALOG_RACE_ATTEMPTS + 1):
            try:
                async with connection.transaction():
                    await connection.execute(
                        "SELECT pg_advisory_xact_lock(hashtext($1))", _ADVISORY_LOCK_KEY
                    )
                    await _lock_down_defaults(connection)
                    for name in names:
                        await _provision_service(connection, name)
                break
            except asyncpg.InternalServerError as error:
                # Roles are shared by every database of the server, but the advisory lock is
                # per database: a run in another database may update the same role row at
                # once, and PostgreSQL refuses the second writer. Nothing was kept; go again.
                if "tuple concurrently updated" not in str(error):
                    raise
                if attempt == _CATALOG_RACE_ATTEMPTS:
                    raise
                await asyncio.sleep(0.05 * attempt)
    finally:
        await connection.close()
    return {name: service_database_url(admin_dsn, name) for name in names}


async def _execute_formatted(
    connection: asyncpg.Connection, template: str, *arguments: str
) -> None:
    # Role and schema statements take no bind parameters: let the server quote with format().
    placeholders = "".join(f", ${index}::text" for index in range(2, len(arguments) + 2))
    statement: str = await connection.fetchval(
        f"SELECT format($1::text{placeholders})", template, *arguments
    )
    await connection.execute(statement)


async def _lock_down_defaults(connection: asyncpg.Connection) -> None:
    await connection.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    database: str = await connection.fetchval("SELECT current_database()")
    # Warns rather than fails when the admin neither owns the database nor is a superuser.
    await _execute_formatted(
        connection, "REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC", database
    )
    await _execute_formatted(
        connection, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO CURRENT_USER", database
    )


async def _provision_service(connection: asyncpg.Connection, service: str) -> None:
    role = service_role(service)
    password = service_password(service)
    role_exists = await connection.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role)
    verb = "ALTER" if role_exists else "CREATE"
    await _execute_formatted(
        connection,
        # SUPERUSER is left unsaid: naming it at all needs a superuser (PostgreSQL 15).
        f"{verb} ROLE %I WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD %L",
        role,
        password,
    )
    admin_is_superuser = await connection.fetchval(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
    )
    if not admin_is_superuser and not await connection.fetchval(
        "SELECT pg_has_role(current_user, $1, 'MEMBER')", role
    ):
        # CREATE SCHEMA ... AUTHORIZATION needs the creator to be a member of the owner role.
        await _execute_formatted(connection, "GRANT %I TO CURRENT_USER", role)
    await _execute_formatted(
        connection, "CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I", service, role
    )
    await _execute_formatted(connection, "ALTER SCHEMA %I OWNER TO %I", service, role)
    await _execute_formatted(connection, "REVOKE ALL ON SCHEMA %I FROM PUBLIC", service)
    database: str = await connection.fetchval("SELECT current_database()")
    await _execute_formatted(
        connection, "GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I", database, role
    )
    await _execute_formatted(
        connection, "ALTER ROLE %I IN DATABASE %I SET search_path = %I", role, database, service
    )
