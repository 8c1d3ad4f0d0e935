"""The one retry helper: which errors it retries, how often, and that it stops."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from orderflow_chassis import retry
from orderflow_chassis.retry import Backoff, call_with_retry, retrying
from tenacity import AsyncRetrying

T = TypeVar("T")


class Flaky(Exception):
    pass


async def test_retries_what_it_is_told_to_then_returns() -> None:
    calls: list[int] = []
    pauses: list[float] = []
    retries: list[tuple[int, str]] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async for attempt in retrying(
        Backoff(attempts=5, initial_delay_s=0.1, max_delay_s=0.4),
        retry_if=lambda error: isinstance(error, Flaky),
        on_retry=lambda number, error, _: retries.append((number, type(error).__name__)),
        sleep=sleep,
    ):
        with attempt:
            calls.append(1)
            if len(calls) < 4:
                raise Flaky
    assert len(calls) == 4
    assert retries == [(1, "Flaky"), (2, "Flaky"), (3, "Flaky")]
    assert [0.05 <= pauses[0] <= 0.1, 0.1 <= pauses[1] <= 0.2, 0.2 <= pauses[2] <= 0.4] == [
        True
    ] * 3


async def attempts_of(retrier: AsyncRetrying, body: Callable[[], None]) -> None:
    async for attempt in retrier:
        with attempt:
            body()


async def test_the_last_error_itself_is_raised_when_attempts_run_out() -> None:
    calls: list[int] = []

    async def no_sleep(_: float) -> None:
        return None

    def fail() -> None:
        calls.append(1)
        raise Flaky

    retrier = retrying(Backoff(attempts=3), retry_if=lambda _: True, sleep=no_sleep)
    with pytest.raises(Flaky):
        await attempts_of(retrier, fail)
    assert len(calls) == 3


async def test_an_error_it_is_not_told_to_retry_is_raised_at_once() -> None:
    calls: list[int] = []

    def bug() -> None:
        calls.append(1)
        raise KeyError("bug")

    retrier = retrying(Backoff(attempts=5), retry_if=lambda error: isinstance(error, Flaky))
    with pytest.raises(KeyError):
        await attempts_of(retrier, bug)
    assert calls == [1]


def test_the_ceiling_survives_a_very_long_outage() -> None:
    assert Backoff(initial_delay_s=0.2, max_delay_s=10).ceiling(10_000) == 10


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"initial_delay_s": 0}, {"initial_delay_s": 2, "max_delay_s": 1}]
)
def test_nonsense_bounds_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"attempt|delays"):
        Backoff(**kwargs)  # type: ignore[arg-type]


async def test_call_with_retry_succeeding_at_once_never_builds_tenacity_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_tenacity(*args: object, **kwargs: object) -> None:
        raise AssertionError("tenacity was set up for an attempt that succeeded")

    monkeypatch.setattr(retry, "AsyncRetrying", no_tenacity)

    async def works() -> int:
        return 7

    assert await call_with_retry(works, Backoff(), retry_if=lambda _: True) == 7


async def test_call_with_retry_counts_and_pauses_its_first_attempt_as_retrying_does() -> None:
    calls: list[int] = []
    pauses: list[float] = []
    retries: list[int] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    async def flaky(failures: int) -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise Flaky
        return "done"

    backoff = Backoff(attempts=4, initial_delay_s=0.1, max_delay_s=0.4)

    async def call(body: Callable[[], Awaitable[T]], given: Backoff = backoff) -> T:
        return await call_with_retry(
            body,
            given,
            retry_if=lambda error: isinstance(error, Flaky),
            on_retry=lambda number, error, _: retries.append(number),
            sleep=sleep,
        )

    assert await call(lambda: flaky(0)) == "done"
    assert (calls, pauses, retries) == ([1], [], []), "a success costs no retry bookkeeping"

    calls.clear()
    assert await call(lambda: flaky(3)) == "done"
    assert len(calls) == 4
    assert retries == [1, 2, 3]
    assert [0.05 <= pauses[0] <= 0.1, 0.1 <= pauses[1] <= 0.2, 0.2 <= pauses[2] <= 0.4] == [
        True
    ] * 3

    calls.clear()
    with pytest.raises(Flaky):
        await call(lambda: flaky(99))
    assert len(calls) == 4, "the backoff's attempts, the first one included"

    calls.clear()
    with pytest.raises(Flaky):
        await call(lambda: flaky(99), Backoff(attempts=1))
    assert len(calls) == 1

    calls.clear()

    async def bug() -> None:
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await call(bug)
    assert calls == [1]
