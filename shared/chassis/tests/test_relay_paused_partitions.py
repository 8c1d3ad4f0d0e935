"""A partition Kafka does not acknowledge is paused: its rows wait, the others flow, and a
probe after the pause tells when it flows again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

from aiokafka import TopicPartition
from orderflow_chassis.outbox_store import OutboxRow, Refusal
from orderflow_chassis.relay_partitions import PausedPartitions
from orderflow_chassis.relay_sending import (
    NotHandedOver,
    SendReport,
    send_in_waves,
)

from shared.chassis.tests.relay_support import Clock, row

STUCK = TopicPartition("orders", 1)
WELL = TopicPartition("orders", 2)
ELSEWHERE = TopicPartition("payments", 0)


def paused_on(clock: Clock, *timed_out: tuple[int, str]) -> PausedPartitions:
    """Partitions paused by rows of STUCK (id, key) that Kafka did not answer."""
    paused = PausedPartitions(pause_s=30, clock=clock)
    rows = [row(row_id, key) for row_id, key in timed_out]
    paused.learn([], rows, {r.id: STUCK for r in rows})
    return paused


def test_a_timed_out_partition_holds_its_rows_back_and_keeps_their_keys_out_of_claims() -> None:
    clock = Clock()
    paused = PausedPartitions(pause_s=30, clock=clock)
    paused.learn([row(2, "b")], [row(1, "a")], {1: STUCK, 2: WELL})
    assert paused.paused == [STUCK]
    assert paused.held_keys() == ["a"]

    later = [row(3, "c"), row(4, "d"), row(5, "c")]
    sorted_out = paused.sort_out(later, {3: STUCK, 4: WELL, 5: STUCK}, complete=True)
    assert [r.id for r in sorted_out.send] == [4]
    assert sorted_out.held_back == 2
    assert sorted_out.probes == set()
    assert paused.held_keys() == ["a", "c"], "a new key of the paused partition is held too"


def test_a_held_key_holds_its_later_rows_on_other_topics() -> None:
    paused = paused_on(Clock(), (1, "a"))
    rows = [row(1, "a"), row(2, "a", topic="payments"), row(3, "b", topic="payments")]
    sorted_out = paused.sort_out(rows, {1: STUCK, 2: ELSEWHERE, 3: ELSEWHERE}, complete=True)
    assert [r.id for r in sorted_out.send] == [3], "a's payment waits for a's order row"
    assert sorted_out.held_back == 2


def test_after_the_pause_only_the_probe_key_is_claimed_and_its_oldest_row_probes() -> None:
    clock = Clock()
    paused = paused_on(clock, (1, "a"))
    paused.sort_out([row(6, "e")], {6: STUCK}, complete=False)  # e: held too
    assert paused.held_keys() == ["a", "e"]
    clock.now += 30
    assert paused.held_keys() == ["e"], "a backlog of other keys does not fill the probe round"

    rows = [row(1, "a"), row(7, "a"), row(8, "f")]
    sorted_out = paused.sort_out(rows, {1: STUCK, 7: STUCK, 8: WELL}, complete=False)
    assert sorted_out.probes == {1}, "one probe per partition: its oldest row"
    assert [r.id for r in sorted_out.send] == [1, 7, 8], "the probe's key may follow it"

    paused.learn([row(1, "a")], [], {1: STUCK})
    assert paused.paused == []
    assert paused.held_keys() == [], "answered: every key flows again"


def test_a_probe_that_fails_in_any_way_pauses_the_partition_again() -> None:
    clock = Clock()
    paused = paused_on(clock, (1, "a"))
    clock.now += 31
    assert paused.sort_out([row(1, "a")], {1: STUCK}, complete=False).probes == {1}
    paused.learn([], [], {1: STUCK}, failed_probes=[row(1, "a")])  # refused, say
    assert paused.held_keys() == ["a"]
    assert paused.sort_out([row(1, "a")], {1: STUCK}, complete=False).send == []


def test_a_rounds_report_is_read_for_its_probes() -> None:
    clock = Clock()
    paused = paused_on(clock, (1, "a"))
    clock.now += 31
    refused = SendReport(refused=[Refusal(row(1, "a"), "NotEnoughReplicas")])
    paused.learn_from(refused, {1}, {1: STUCK})
    assert paused.held_keys() == ["a"], "a probe refused (attempts left) pauses again"
    assert paused.describe() == "orders[1]"

    clock.now += 31
    paused.learn_from(SendReport(acknowledged=[row(1, "a")]), {1}, {1: STUCK})
    assert (paused.paused, paused.describe()) == ([], "")


def test_a_parked_probe_lets_every_key_be_claimed_when_the_pause_runs_out() -> None:
    clock = Clock()
    paused = paused_on(clock, (1, "a"), (2, "b"))
    paused.learn([], [], {1: STUCK}, parked=[row(1, "a")])
    assert paused.held_keys() == ["a", "b"], "still inside the pause"
    clock.now += 31
    assert paused.held_keys() == [], "no probe key left: the next row of any key probes"


def test_a_pause_with_nothing_left_to_probe_ends() -> None:
    clock = Clock()
    paused = paused_on(clock, (1, "a"))
    clock.now += 31
    paused.sort_out([row(9, "z")], {9: WELL}, complete=False)
    assert paused.paused == [STUCK], "a full claim may have left its rows out"
    paused.sort_out([row(9, "z")], {9: WELL}, complete=True)
    assert paused.paused == [], "every pending row was claimed, none of it: nothing to probe"


def test_a_relay_that_stops_leading_forgets_its_pauses() -> None:
    paused = paused_on(Clock(), (1, "a"))
    paused.forget_all()
    assert (paused.paused, paused.held_keys()) == ([], [])


def test_a_row_whose_partition_is_unknown_is_sent_and_pauses_nothing() -> None:
    paused = PausedPartitions(pause_s=30, clock=Clock())
    paused.learn([], [row(1, "a")], {})
    assert paused.paused == []
    assert [r.id for r in paused.sort_out([row(1, "a")], {}, complete=True).send] == [1]


class StuckPartitionProducer:
    """Acknowledges at once, except rows of ``stuck_keys``, which it never acknowledges, and
    rows of ``blocking_keys``, which it never even takes."""

    def __init__(self, stuck_keys: set[str], blocking_keys: frozenset[str] = frozenset()):
        self.stuck_keys = stuck_keys
        self.blocking_keys = blocking_keys

    async def send(self, outbox_row: OutboxRow) -> Awaitable[object]:
        if outbox_row.key in self.blocking_keys:  # aiokafka waiting for a topic's metadata
            await asyncio.Event().wait()
        if outbox_row.key in self.stuck_keys:
            return asyncio.get_running_loop().create_future()
        return asyncio.sleep(0.01)


async def test_a_probe_is_waited_for_only_its_own_short_time() -> None:
    producer = StuckPartitionProducer({"a"})
    started = time.monotonic()
    report = await send_in_waves(
        [row(1, "a"), row(2, "b")],
        producer.send,
        park_after_attempts=3,
        ack_timeout_s=10,
        probes={1},
        probe_timeout_s=0.1,
    )
    assert time.monotonic() - started < 2, "not the full acknowledgement timeout"
    assert [r.id for r in report.acknowledged] == [2]
    assert [r.id for r in report.unanswered] == [1]
    assert "within 0.1 s" in report.transient[0].error


async def test_rows_never_handed_over_are_not_taken_for_unanswered_ones() -> None:
    producer = StuckPartitionProducer(set(), blocking_keys=frozenset({"a"}))
    report = await send_in_waves(
        [row(1, "b"), row(2, "a"), row(3, "c")],
        producer.send,
        park_after_attempts=3,
        ack_timeout_s=0.2,
    )
    assert [r.id for r in report.timed_out] == [2, 3], "the producer is replaced all the same"
    assert report.unanswered == [], "no partition failed to answer: none is paused"
    assert "did not take it" in report.transient[1].error
    assert isinstance(NotHandedOver("x"), TimeoutError)
