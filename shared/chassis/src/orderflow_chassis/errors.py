"""How a failure is classified decides what happens to the message behind it.

* Transient: the world is briefly unavailable (database restarting, broker unreachable,
  serialization conflict). The batch is rolled back and retried with backoff; the partition
  waits, because skipping ahead would reorder an aggregate's events.
* Permanent: retrying cannot help (the event breaks a contract or a domain rule). The event
  goes to the dead-letter topic with the reason, and the partition moves on.
* Anything else is unexpected (most likely a bug): the batch is retried a bounded number of
  times with backoff and jitter, and only then is that one record dead-lettered, with every
  failure it met, so it can be replayed after the fix.
"""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions
from aiokafka.errors import KafkaError, KafkaTimeoutError


class TransientError(Exception):
    """Raise from a handler when the operation may succeed if retried later."""


class PermanentError(Exception):
    """Raise from a handler when the event can never be applied; it is dead-lettered.

    ``code`` is a short machine-readable reason that ops can filter dead letters by.
    ``redacted_payload`` replaces the original bytes in the dead letter when they must not be
    kept as they are (e.g. they contain what looks like a card number).
    """

    def __init__(self, code: str, reason: str, *, redacted_payload: bytes | None = None) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.redacted_payload = redacted_payload


# What an infrastructure hiccup can raise. Retrying the same work later may succeed, so these
# are retried without limit and never dead-lettered: a cancelled query (statement_timeout,
# pg_cancel_backend), an administrator's or a crash's shutdown, a dropped or reset connection,
# a full disk, a failover to a read-only server, a lock or serialisation conflict, a server's
# timeouts on sessions and transactions.
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TransientError,
    ConnectionError,
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,  # query cancelled, admin/crash shutdown
    asyncpg.exceptions.InsufficientResourcesError,  # disk full, out of memory, connections
    asyncpg.exceptions.TransactionRollbackError,  # serialisation failure, deadlock
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # failed over to a standby
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
    # 25P04: a server's transaction_timeout (PostgreSQL 17) ended a long batch; sessions turn
    # it off (database.py), but a pooler may not pass the SET on
    asyncpg.exceptions.TransactionTimeoutError,
    asyncpg.exceptions.SnapshotTooOldError,  # 72000: old_snapshot_threshold (up to 16)
    asyncpg.exceptions.PostgresSystemError,  # class 58: an I/O error on the server's storage
    # class 28: a password rotated under a running service (its next connection fails until
    # the new secret is mounted); a wrong password at start is refused at start instead
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    # 42501: a grant revoked or a role changed under a running service: the operator's to
    # fix, like a password (decision 79), never the event's
    asyncpg.exceptions.InsufficientPrivilegeError,
    # the process is out of memory (a hard limit, overcommit off): nothing about the record
    MemoryError,
)


def describe_error(error: BaseException) -> str:
    """``Type: message`` (just ``Type`` when the message is empty), for logs and reports."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def is_transient(error: BaseException) -> bool:
    """True when the failure says nothing about the event: the same work may succeed later."""
    if isinstance(error, PermanentError):
        return False
    return isinstance(error, TRANSIENT_TYPES)


def kafka_may_pass(error: BaseException) -> bool:
    """A Kafka failure the same call may get past later: a retriable error, or a timeout
    (aiokafka does not mark it retriable: it ends its own retries). Not a closed client, a
    record too large or a refused authorisation."""
    return isinstance(error, KafkaTimeoutError) or (
        isinstance(error, KafkaError) and error.retriable
    )
