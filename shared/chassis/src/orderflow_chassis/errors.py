"""How a failure is classified decides what happens to the message behind it.

* Transient: the world is briefly unavailable (database restarting, broker unreachable,
  serialization conflict). The batch is rolled back and retried with backoff; the partition
  waits, because skipping ahead would reorder an aggregate's events.
* Permanent: retrying cannot help (the event breaks a domain rule, or a bug). The event goes
  to the dead-letter topic with the reason, and the partition moves on.
"""

from __future__ import annotations

import asyncio

import asyncpg


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


_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TransientError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    asyncpg.AdminShutdownError,
)


def is_transient(error: BaseException) -> bool:
    """True when retrying the same work later may succeed."""
    if isinstance(error, PermanentError):
        return False
    return isinstance(error, _TRANSIENT_TYPES)
