"""Hostile input for every consumer of every service, on real Kafka and PostgreSQL.

One run per module (all four services in-process, one topic prefix): hypothesis draws the
corpus (see ``strategies``), it is published in bulk to every topic a service reads,
interleaved with valid customer journeys, and the tests below each check one property of the
end state. Size: ``conftest.FuzzSize`` (ORDERFLOW_FUZZ_FULL=1 or ``-m fuzz_full`` for 10,000
records per topic).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiokafka import ConsumerRecord
from orderflow_contracts import topics
from orderflow_contracts.envelope import Envelope
from orderflow_localinfra.discovery import Infrastructure

from tests.hostile.card_numbers import CardNumberScan
from tests.hostile.conftest import FuzzSize
from tests.hostile.corpus import Published, hostile_records, new_producer, publish_all
from tests.hostile.end_state import (
    DeadLetters,
    current_xid,
    dead_letters,
    every_record,
    scan_records,
    scan_tables,
    unaccounted_skips,
)
from tests.hostile.oracle import CARD_DATA_REFUSED, Outcome, card_numbers_in, expected_outcome
from tests.hostile.saga_checks import journey_problems, order_problems
from tests.hostile.system import (
    VALID_CORRELATION,
    ConsumerInfo,
    FourServices,
    Journey,
    four_services,
    journey,
    new_run_id,
    publish_valid,
    stock_count,
)
from tests.support.service_harness import unique_prefix

pytestmark = [pytest.mark.integration, pytest.mark.fuzz_full, pytest.mark.timeout(3600)]

CONSUMED_TOPICS = sorted(
    {
        topics.STOREFRONT_CARTS,
        topics.ORDERS,
        topics.PAYMENTS,
        topics.FULFILLMENT,
        topics.WAREHOUSE_EVENTS,
        topics.RETURNS,
        topics.STOREFRONT_RETURNS,
    }
)
ROUNDS = 5  # hostile records go out in rounds, with valid journeys between them
JOURNEYS_PER_ROUND = 4


@dataclass
class FuzzRun:
    system: FourServices
    size: FuzzSize
    published: list[Published]
    journeys: list[Journey]
    valid_inputs: list[Envelope]
    consumers: list[ConsumerInfo]
    lagging: dict[tuple[str, str, int], tuple[int, int]]
    unsent_outbox: int
    records: list[ConsumerRecord]
    letters: DeadLetters
    pans: frozenset[str]
    log_file: Path
    first_xid: int
    seconds: float


@pytest_asyncio.fixture(scope="module")
async def fuzz_run(
    infrastructure: Infrastructure, fuzz_size: FuzzSize, captured_log_file: Path
) -> AsyncIterator[FuzzRun]:
    started = time.monotonic()
    corpus = {
        topic: hostile_records(topic, fuzz_size.per_topic, max_depth=fuzz_size.max_depth)
        for topic in CONSUMED_TOPICS
    }
    run = new_run_id()
    prefix = unique_prefix("hostile")
    async with four_services(infrastructure, prefix) as system:
        first_xid = await current_xid(system)
        producer = new_producer(system.kafka)
        await producer.start()
        try:
            valid: list[Envelope] = [stock_count(run)]
            await publish_valid(producer, prefix, valid)
            published: list[Published] = []
            journeys: list[Journey] = []
            for round_number in range(ROUNDS):
                chunk = [
                    record
                    for topic in CONSUMED_TOPICS
                    for record in corpus[topic][round_number::ROUNDS]
                ]
                published += await publish_all(producer, prefix, chunk)
                for n in range(JOURNEYS_PER_ROUND):
                    one = journey(round_number * JOURNEYS_PER_ROUND + n, run)
                    journeys.append(one)
                    await publish_valid(producer, prefix, one.envelopes)
                    valid.extend(one.envelopes)
        finally:
            await producer.stop()

        # The saga goes on after the last publication: wait until every relay has published
        # and every consumer has reached the end of every partition.
        lagging, unsent = await system.settle(fuzz_size.catch_up_s)
        records = await every_record(system)
        pans = frozenset(pan for item in published for pan in card_numbers_in(item.record))
        yield FuzzRun(
            system=system,
            size=fuzz_size,
            published=published,
            journeys=journeys,
            valid_inputs=valid,
            consumers=system.consumers(),
            lagging=lagging,
            unsent_outbox=unsent,
            records=records,
            letters=dead_letters(records, VALID_CORRELATION),
            pans=pans,
            log_file=captured_log_file,
            first_xid=first_xid,
            seconds=time.monotonic() - started,
        )


def test_the_corpus_is_the_size_asked_for_and_covers_every_family(fuzz_run: FuzzRun) -> None:
    per_topic = Counter(item.record.topic for item in fuzz_run.published)
    families = {item.record.kind.split(".")[0] for item in fuzz_run.published}
    assert set(per_topic) == set(CONSUMED_TOPICS)
    assert min(per_topic.values()) >= 0.95 * fuzz_run.size.per_topic, per_topic
    assert families >= {"random_bytes", "deep_nesting", "huge_field", "card_number"}, families
    print(f"fuzz run: {len(fuzz_run.published)} hostile records in {fuzz_run.seconds:.1f} s")


def test_no_partition_stalls(fuzz_run: FuzzRun) -> None:
    """Every consumer reaches the end of every partition it reads, and the relays drain."""
    assert fuzz_run.lagging == {}, (
        f"consumers behind at the deadline {{(consumer, topic, partition): (position, end)}}: "
        f"{fuzz_run.lagging}"
    )
    assert fuzz_run.unsent_outbox == 0


async def test_every_valid_event_takes_effect(fuzz_run: FuzzRun) -> None:
    """Each valid input is in the inbox of every consumer with a handler for it, and every
    journey reached its outcome (approved: fulfilment requested; declined: cancelled)."""
    missing: list[str] = []
    for consumer in fuzz_run.consumers:
        wanted = [
            e.event_id
            for e in fuzz_run.valid_inputs
            if e.event_type in consumer.handled_types
            and type(e.parse_event()).topic in consumer.topics
        ]
        pool = fuzz_run.system.runtimes[consumer.service].pool
        rows = await pool.fetch(
            f"SELECT event_id FROM {consumer.service}.inbox "
            "WHERE consumer = $1 AND event_id = ANY($2::uuid[])",
            consumer.group_id,
            wanted,
        )
        applied = {row["event_id"] for row in rows}
        missing += [f"{consumer.group_id}: {i}" for i in wanted if i not in applied]
    assert missing == [], f"{len(missing)} valid events not applied: {missing[:20]}"
    problems = journey_problems(fuzz_run.records, fuzz_run.journeys)
    assert problems == [], problems[:20]


def test_no_valid_event_is_dead_lettered(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.letters.of_valid_journeys == []


def test_per_aggregate_order_is_kept_and_nothing_is_duplicated(fuzz_run: FuzzRun) -> None:
    assert order_problems(fuzz_run.records, VALID_CORRELATION) == []


def test_every_dead_letter_says_why(fuzz_run: FuzzRun) -> None:
    assert fuzz_run.letters.without_code == []


def test_every_bad_record_is_dead_lettered_with_a_reason_or_skipped(fuzz_run: FuzzRun) -> None:
    """Per hostile record and per consumer of its topic, what happened matches the rules in
    ``oracle``. Mismatches are summarised by family, service and outcome."""
    mismatches: Counter[tuple[str, str, str, str]] = Counter()
    examples: dict[tuple[str, str, str, str], str] = {}
    for item in fuzz_run.published:
        for consumer in fuzz_run.consumers:
            if item.record.topic not in consumer.topics:
                continue
            expected = expected_outcome(item.record, consumer.handled_types)
            codes = fuzz_run.letters.by_original.get(
                (consumer.group_id, item.topic, item.partition, item.offset), []
            )
            if not _as_expected(expected, codes):
                key = (item.record.kind, consumer.service, expected.value, f"got {codes}")
                mismatches[key] += 1
                examples.setdefault(key, f"{item.topic}@{item.partition}:{item.offset}")
    report = [f"{n} x {key} e.g. {examples[key]}" for key, n in mismatches.most_common()]
    assert report == [], "\n".join(report)


def _as_expected(expected: Outcome, codes: list[str]) -> bool:
    if expected is Outcome.CARD_REFUSED:
        return codes == [CARD_DATA_REFUSED]
    if expected is Outcome.DEAD_LETTERED:
        return len(codes) == 1 and bool(codes[0])
    if expected is Outcome.SKIPPED:
        return codes == []
    return len(codes) <= 1  # HANDLED: applied, or one domain dead letter


def test_skipped_records_are_counted(fuzz_run: FuzzRun) -> None:
    """A skip is not silent: each consumer counts at least as many skips per topic as it
    was given records to skip (orderflow_events_consumed_total, any outcome that is not
    applied, dead-lettered, duplicate or a redelivery)."""
    short: list[str] = []
    for consumer in fuzz_run.consumers:
        for topic in consumer.topics:
            full_topic = fuzz_run.system.prefix + topic
            to_skip = sum(
                1
                for item in fuzz_run.published
                if item.record.topic == topic
                and expected_outcome(item.record, consumer.handled_types) is Outcome.SKIPPED
            )
            counted = unaccounted_skips(consumer.group_id, full_topic)
            if counted < to_skip:
                short.append(f"{consumer.group_id} {topic}: {counted:.0f} of {to_skip}")
    assert short == []


def test_no_card_number_on_any_topic(fuzz_run: FuzzRun) -> None:
    """Keys, header names, header values and values of every topic of the run, .dlq too."""
    scan = CardNumberScan(fuzz_run.pans)
    # The fuzzer's own input records carry card numbers on purpose; what services wrote
    # (their events, dead letters included) must not.
    inputs = {(p.topic, p.partition, p.offset) for p in fuzz_run.published}
    scan_records(
        scan, (r for r in fuzz_run.records if (r.topic, r.partition, r.offset) not in inputs)
    )
    assert scan.findings == [], f"{len(scan.findings)} findings: {scan.findings[:20]}"


async def test_no_card_number_in_any_table(fuzz_run: FuzzRun) -> None:
    """Every row of every table of every service schema: outbox, inbox, dead letters too."""
    scan = CardNumberScan(fuzz_run.pans)
    rows = await scan_tables(scan, fuzz_run.system, since_xid=fuzz_run.first_xid)
    assert rows > 0
    assert scan.findings == [], f"{len(scan.findings)} findings: {scan.findings[:20]}"


def test_no_card_number_in_the_logs(fuzz_run: FuzzRun) -> None:
    scan = CardNumberScan(fuzz_run.pans)
    with fuzz_run.log_file.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, start=1):
            scan.check(f"log line {number}", line)
    assert fuzz_run.log_file.stat().st_size > 0, "nothing was logged: the capture is broken"
    assert scan.findings == [], f"{len(scan.findings)} findings: {scan.findings[:20]}"
