"""asyncpg pools bound to a service's own schema."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy

from orderflow_chassis.postgres_tls import (
    PostgresTlsError,
    explain_tls_refusal,
    is_tls_refusal,
    tls_settings,
    with_tls_settings,
)
from orderflow_chassis.retry import Backoff, retrying
from orderflow_chassis.settings import validate_identifier

log = structlog.get_logger(__name__)

# What handlers and adapters receive: a plain connection or one borrowed from a pool.
Connection = asyncpg.Connection | PoolConnectionProxy

T = TypeVar("T")

DEFAULT_COMMAND_TIMEOUT_S = 60.0
# Some transactions wait on something outside the database: a relay round on Kafka's answers
# (at most twice its 30 s acknowledgement timeout), a payment batch on its provider (4 calls
# of up to 10 s). A server's shorter idle-in-transaction timeout (a managed cluster's default)
# would end every such session, and the work would be redone for ever (decision 92). Bounded
# all the same: a hung process still gives up its locks.
IDLE_IN_TRANSACTION_TIMEOUT_MS = 300_000

# What a server that is still starting (or not yet reachable, or not the kind a DSN's
# target_session_attrs asks for: a failover under way) raises.
_NOT_YET_UP = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.TargetServerAttributeNotMatched,
)
# What a server that will not let this role in raises: waiting does not help.
_REFUSED = (
    asyncpg.InvalidAuthorizationSpecificationError,  # wrong password, unknown role, pg_hba
    asyncpg.InvalidCatalogNameError,  # no such database
)


class PostgresUnavailableError(ConnectionError):
    """PostgreSQL did not come up in time, or refused the service's role or database."""


async def connect(
    dsn: str, *, schema: str, command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S
) -> asyncpg.Connection:
    """One connection set up like the pool's (a listener, tools and tests): its statements are
    bounded as the pool's are, so a server gone silent cannot hold its caller for ever."""
    validate_identifier(schema)
    connection = await asyncpg.connect(
        with_tls_settings(dsn),
        server_settings={"search_path": schema},
        command_timeout=command_timeout_s,
    )
    await _init_connection(connection)
    return connection


async def _init_connection(connection: asyncpg.Connection) -> None:
    # A SET once per connection, not a startup parameter: PgBouncer refuses startup
    # parameters it does not know. PostgreSQL 17's transaction_timeout would end the same
    # long transactions, and is turned off (the statements in them are bounded already).
    settings = f"SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_TIMEOUT_MS}"
    if connection.get_server_version().major >= 17:
        settings += "; SET transaction_timeout = 0"
    await connection.execute(settings)
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


@asynccontextmanager
async def acquired(pool: asyncpg.Pool, *, wait_s: float | None = None) -> AsyncIterator[Connection]:
    """A connection of ``pool`` for one use (waiting ``wait_s`` at most for it). One that found
    its server read-only (demoted in a failover while the session lived) is closed instead of
    going back to the pool, where it would fail every write it is lent for: the pool opens a
    new one (to the new writer, once the server's name points at it)."""
    async with pool.acquire(timeout=wait_s) as connection:
        try:
            yield connection
        except Exception as error:
            if read_only_failure(error):
                log.warning("database.session_read_only", error=str(error))
                connection.terminate()
            raise


def server_backoff(deadline_s: float) -> Backoff:
    """How a start waits out a server that is not ready (:func:`server_not_ready`): quickly at
    first, every 5 s at most, for ``deadline_s``."""
    return Backoff(attempts=None, initial_delay_s=0.2, max_delay_s=5.0, deadline_s=deadline_s)


def server_not_ready(error: BaseException) -> bool:
    """Whether ``error`` is what a server still starting, out of reach or not the kind asked
    for raises when connecting: waited out at start (a TLS refusal is not)."""
    return isinstance(error, _NOT_YET_UP) and not is_tls_refusal(error)


def read_only_failure(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps) is a write refused by a read-only server."""
    seen: BaseException | None = error
    for _ in range(5):  # the error, or what a handler's failure wraps
        if seen is None:
            return False
        if isinstance(seen, asyncpg.ReadOnlySQLTransactionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _current_transaction(connection: Connection) -> object | None:
    """The outermost ``transaction()`` block ``connection`` is in, or None (asyncpg's
    ``_top_xact``: savepoints inside it share it)."""
    return getattr(connection, "_top_xact", None)


class TransactionLocal(Generic[T]):
    """A value kept for the rest of one transaction, in the task that runs it: the locks a
    batch's ``lock_ahead`` took, the rows it read or its handlers deferred. A repository built
    for a later record of the batch finds it on the same connection; any other connection, or
    a later transaction on the same one (a connection serves many, one after another), finds
    nothing and works without it."""

    def __init__(self, name: str) -> None:
        self._kept: ContextVar[tuple[Connection, object, T] | None] = ContextVar(name, default=None)

    def set(self, connection: Connection, value: T) -> None:
        """Keep ``value`` for the transaction ``connection`` is in (outside one, nothing)."""
        transaction = _current_transaction(connection)
        self._kept.set(None if transaction is None else (connection, transaction, value))

    def get(self, connection: Connection) -> T | None:
        kept = self._kept.get()
        if kept is None:
            return None
        kept_connection, transaction, value = kept
        if kept_connection is connection and transaction is _current_transaction(connection):
            return value
        return None


async def _back_to_pool(connection: asyncpg.Connection) -> None:
    """A released connection needs no reset query: asyncpg has already rolled back what was
    left open and dropped its listener callbacks, and nothing in the project leaves other session
    state behind (no plain SET but the one every connection starts with, no session-level
    advisory lock, no cursor outside a transaction; the relay unlistens when it stops
    leading). The default reset query cost one more round trip per acquisition, two per order
    in payment (decision 48)."""


async def create_pool(
    dsn: str,
    *,
    schema: str,
    application_name: str,
    min_size: int = 1,
    max_size: int = 10,
    connect_timeout_s: float = 60.0,
    command_timeout_s: float | None = DEFAULT_COMMAND_TIMEOUT_S,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """Open a pool whose connections see only ``schema`` by default.

    ``server_settings`` are further run-time parameters every session starts with. Every
    session outlasts a server's short idle-in-transaction timeout
    (``IDLE_IN_TRANSACTION_TIMEOUT_MS``, set when it is opened).

    A statement that has no answer after ``command_timeout_s`` is cancelled and raises
    ``TimeoutError`` (transient: retried): a hung server, or one gone without closing the
    connection (a failover whose old node vanished), would otherwise hold a consumer, the relay
    or a request for ever, asyncpg setting no TCP keepalive.

    Waits (with backoff) up to ``connect_timeout_s`` for the server, so services can start
    before the database has finished starting; a TLS failure stops at once, with the TLS
    settings (``sslmode`` & co. from the DSN, else ``PGSSLMODE`` & co.) in the message.
    """
    validate_identifier(schema)
    tls = tls_settings(dsn)  # a setting that cannot work fails here, naming it
    dsn = with_tls_settings(dsn)

    def on_retry(_: int, error: BaseException, delay: float) -> None:
        log.warning("database.unavailable", error=str(error), retry_in_s=round(delay, 2))

    try:
        async for attempt in retrying(
            server_backoff(connect_timeout_s),
            retry_if=server_not_ready,
            on_retry=on_retry,
        ):
            with attempt:
                pool = await asyncpg.create_pool(
                    dsn,
                    min_size=min_size,
                    max_size=max_size,
                    command_timeout=command_timeout_s,
                    init=_init_connection,
                    reset=_back_to_pool,
                    server_settings={
                        **(server_settings or {}),
                        "search_path": schema,
                        "application_name": application_name,
                    },
                )
    except _NOT_YET_UP as error:
        if is_tls_refusal(error):
            raise PostgresTlsError(explain_tls_refusal(error, tls)) from error
        raise PostgresUnavailableError(
            f"PostgreSQL did not accept connections within {connect_timeout_s:.0f}s: {error}"
        ) from error
    except _REFUSED as error:
        raise PostgresUnavailableError(
            f"PostgreSQL refused the connection: {error} (check the user, password and "
            "database in the database URL)"
        ) from error
    assert pool is not None
    return pool


async def delete_in_chunks(
    executor: Connection | asyncpg.Pool, table: str, condition: str, *args: object, chunk: int
) -> int:
    """``DELETE FROM table WHERE condition`` (``condition`` may use ``$1..$n`` for ``args``),
    ``chunk`` rows per statement: a purge after a backlog never holds one long statement or its
    locks, nor outlasts the statement timeout every time. Returns how many rows went."""
    limit = f"${len(args) + 1}"
    deleted = 0
    while True:
        result = await executor.execute(
            f"DELETE FROM {table} WHERE ctid IN "
            f"(SELECT ctid FROM {table} WHERE {condition} LIMIT {limit})",
            *args,
            chunk,
        )
        count = int(result.split()[-1])
        deleted += count
        if count < chunk:
            return deleted
