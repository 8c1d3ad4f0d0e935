"""An idle consumer's fetches wait longer and are answered at the first byte; the first poll
with records restores the busy setting."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from aiokafka.consumer.fetcher import Fetcher
from orderflow_chassis.fetch_pacing import FetchPacing


def consumer() -> SimpleNamespace:
    return SimpleNamespace(_fetcher=SimpleNamespace(_fetch_min_bytes=65_536, _fetch_max_wait_ms=50))


def setting(kafka: SimpleNamespace) -> tuple[int, int]:
    return kafka._fetcher._fetch_min_bytes, kafka._fetcher._fetch_max_wait_ms


def test_an_empty_poll_makes_the_next_fetches_wait_longer_and_wake_at_the_first_byte() -> None:
    pacing, kafka = FetchPacing(min_bytes=65_536, max_wait_ms=50), consumer()
    pacing.polled(kafka, ["a record"])
    assert setting(kafka) == (65_536, 50)
    pacing.polled(kafka, [])
    assert setting(kafka) == (1, 500)
    pacing.polled(kafka, ["a record"])
    assert setting(kafka) == (65_536, 50), "records again: batches gather again"


def test_idle_only_after_as_many_empty_polls_as_asked() -> None:
    pacing, kafka = FetchPacing(min_bytes=1024, max_wait_ms=50, idle_after=3), consumer()
    pacing.polled(kafka, ["a record"])
    for _ in range(2):
        pacing.polled(kafka, [])
        assert setting(kafka) == (1024, 50)
    pacing.polled(kafka, [])
    assert setting(kafka) == (1, 500)


def test_an_idle_wait_never_shortens_a_longer_busy_one() -> None:
    pacing, kafka = FetchPacing(min_bytes=1024, max_wait_ms=900), consumer()
    pacing.polled(kafka, [])
    assert setting(kafka) == (1, 900)


def test_a_consumer_without_the_expected_fetcher_is_left_alone() -> None:
    pacing = FetchPacing(min_bytes=1024, max_wait_ms=50)
    changed = SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=50))  # one of the two
    pacing.polled(changed, [])
    assert vars(changed._fetcher) == {"_fetch_max_wait_ms": 50}, "nothing set, nothing added"
    pacing.polled(SimpleNamespace(), [])  # no fetcher at all: nothing raised


def test_aiokafkas_fetcher_builds_each_fetch_from_the_values_the_pacing_sets() -> None:
    # The pacing relies on this: if aiokafka stops reading them per fetch, it does nothing.
    source = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms" in source
    assert "self._fetch_min_bytes" in source


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_busy_consumer_waits_longer_the_more_of_its_time_goes_into_batches() -> None:
    clock, kafka = Clock(), consumer()
    pacing = FetchPacing(min_bytes=262_144, max_wait_ms=50, loaded_max_wait_ms=200, clock=clock)

    def polls(count: int, *, applying_s: float, waiting_s: float) -> tuple[int, int]:
        for _ in range(count):
            pacing.worked(applying_s)
            clock.now += applying_s + waiting_s
            pacing.polled(kafka, ["a record"])
        return setting(kafka)

    assert polls(1, applying_s=0.1, waiting_s=0.9) == (262_144, 50)
    assert polls(30, applying_s=0.3, waiting_s=0.7) == (262_144, 50), "30 %: not loaded"
    assert polls(30, applying_s=0.95, waiting_s=0.05) == (262_144, 200), "95 %: loaded"
    middle = polls(30, applying_s=0.65, waiting_s=0.35)[1]
    assert 110 <= middle <= 140, "65 %: in proportion, halfway"
    assert polls(30, applying_s=0.1, waiting_s=0.9) == (262_144, 50), "the load went away"
    pacing.polled(kafka, [])
    assert setting(kafka) == (1, 500), "idle is idle, whatever the load was"


def test_a_loaded_wait_shorter_than_the_busy_one_changes_nothing() -> None:
    clock, kafka = Clock(), consumer()
    pacing = FetchPacing(min_bytes=1024, max_wait_ms=500, loaded_max_wait_ms=200, clock=clock)
    for _ in range(30):
        pacing.worked(1.0)
        clock.now += 1.0
        pacing.polled(kafka, ["a record"])
    assert setting(kafka) == (1024, 500)


def test_one_loaded_poll_after_calm_ones_does_not_make_the_next_fetch_wait_long() -> None:
    clock, kafka = Clock(), consumer()
    pacing = FetchPacing(min_bytes=262_144, max_wait_ms=50, loaded_max_wait_ms=200, clock=clock)
    for applying_s in [0.1] * 10 + [1.0]:  # the last poll: all of its time applying
        pacing.worked(applying_s)
        clock.now += 1.0
        pacing.polled(kafka, ["a record"])
    assert setting(kafka) == (262_144, 50), "smoothed: one busy stretch is not a load"


def test_a_gathering_consumer_waits_for_a_full_batch_idle_or_busy() -> None:
    pacing = FetchPacing(min_bytes=4_096_000, max_wait_ms=300, gather=True)
    kafka = consumer()
    for records in (["a record"], [], [], ["a record"]):
        pacing.polled(kafka, records)
        assert setting(kafka) == (4_096_000, 300), "never the idle first-byte setting"
