import asyncpg
import asyncpg.exceptions
import pytest
from orderflow_chassis.errors import PermanentError, TransientError, is_transient
from orderflow_chassis.handler_failures import describe_failure
from orderflow_chassis.retry import Backoff


@pytest.mark.parametrize(
    "error",
    [
        TransientError("provider timeout"),
        ConnectionRefusedError(),
        TimeoutError(),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock"),
        # What statement_timeout, pg_cancel_backend, a shutdown or a crash of the server raise:
        asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.InternalClientError("unexpected connection state"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.DiskFullError("could not extend file"),
        asyncpg.ReadOnlySQLTransactionError("cannot execute INSERT in a read-only transaction"),
        # A server's transaction_timeout (PostgreSQL 17) and old_snapshot_threshold (review,
        # helper 122: a long payment batch's valid events were dead-lettered):
        asyncpg.exceptions.TransactionTimeoutError(
            "canceling statement due to transaction timeout"
        ),
        asyncpg.exceptions.SnapshotTooOldError("snapshot too old"),
        ConnectionResetError(),
        # A grant revoked under a running service, and a process out of memory: the
        # operator's or the machine's, never the event's (both dead-lettered valid events).
        asyncpg.InsufficientPrivilegeError("permission denied for table outbox"),
        MemoryError(),
    ],
)
def test_transient_failures_are_retried(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [PermanentError("unknown_sku", "SKU X is not sold"), KeyError("lines"), ValueError("bad")],
)
def test_other_failures_are_permanent(error: BaseException) -> None:
    assert not is_transient(error)


def test_a_permanent_error_keeps_its_code_and_reason() -> None:
    assert describe_failure(PermanentError("unknown_sku", "SKU X is not sold")) == (
        "unknown_sku",
        "SKU X is not sold",
    )


def test_an_unexpected_exception_is_described_with_where_it_happened() -> None:
    stock: dict[str, int] = {}
    try:
        stock["missing"]
    except KeyError as error:
        code, reason = describe_failure(error)
    assert code == "handler_failed"
    assert reason.startswith("KeyError: 'missing' at ")
    assert "test_errors.py" in reason


def test_retry_delays_grow_exponentially_with_jitter_and_a_ceiling() -> None:
    policy = Backoff(initial_delay_s=0.1, max_delay_s=1.0)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1, "jittered: instances that failed together do not retry together"
