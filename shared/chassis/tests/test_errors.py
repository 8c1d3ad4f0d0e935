import asyncpg
import pytest
from orderflow_chassis.consumer import _describe
from orderflow_chassis.errors import PermanentError, TransientError, is_transient


@pytest.mark.parametrize(
    "error",
    [
        TransientError("provider timeout"),
        ConnectionRefusedError(),
        TimeoutError(),
        asyncpg.SerializationError("could not serialize access"),
        asyncpg.DeadlockDetectedError("deadlock"),
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
    assert _describe(PermanentError("unknown_sku", "SKU X is not sold")) == (
        "unknown_sku",
        "SKU X is not sold",
    )


def test_an_unexpected_exception_is_described_with_where_it_happened() -> None:
    stock: dict[str, int] = {}
    try:
        stock["missing"]
    except KeyError as error:
        code, reason = _describe(error)
    assert code == "handler_failed"
    assert reason.startswith("KeyError: 'missing' at ")
    assert "test_errors.py" in reason
