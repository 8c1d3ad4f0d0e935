"""Reading back what a run left: every record of the run's topics, every row of the service
schemas, dead letters by the record they stand for, and the consumption counters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from orderflow_chassis import metrics
from orderflow_chassis.dead_letters import failure_details
from orderflow_chassis.topic_reader import read_to_end
from orderflow_contracts.envelope import Envelope

from tests.hostile.card_numbers import CardNumberScan
from tests.hostile.system import FourServices

LetterKey = tuple[str, str, int, int]  # consumer, original topic, partition, offset

NOT_SKIPPED = frozenset({"applied", "dead_lettered", "duplicate", "skipped_redelivery"})


async def prefixed_topics(kafka: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        names: list[str] = await admin.list_topics()
    finally:
        await admin.close()
    return sorted(name for name in names if name.startswith(prefix))


async def every_record(system: FourServices) -> list[ConsumerRecord]:
    return await read_to_end(system.kafka, await prefixed_topics(system.kafka, system.prefix))


@dataclass
class DeadLetters:
    by_original: dict[LetterKey, list[str]]
    without_code: list[str]
    of_valid_journeys: list[str]


def dead_letters(records: Iterable[ConsumerRecord], valid_correlation: str) -> DeadLetters:
    by_original: dict[LetterKey, list[str]] = defaultdict(list)
    without_code: list[str] = []
    valid: list[str] = []
    for record in records:
        if not record.topic.endswith(".dlq"):
            continue
        why = failure_details(record.headers or ())
        where = f"{record.topic}@{record.partition}:{record.offset}"
        if not why.get("error_code"):
            without_code.append(where)
        try:
            key = (
                why["consumer"],
                why["original_topic"],
                int(why["original_partition"]),
                int(why["original_offset"]),
            )
        except (KeyError, ValueError):
            without_code.append(f"{where} (no original position)")
            continue
        by_original[key].append(why.get("error_code", ""))
        correlation = _correlation_of(record.value)
        if correlation is not None and correlation.startswith(valid_correlation):
            valid.append(f"{where}: {why.get('error_code')}: {why.get('reason', '')[:200]}")
    return DeadLetters(dict(by_original), without_code, valid)


def _correlation_of(value: bytes | None) -> str | None:
    try:
        return Envelope.from_bytes(value or b"").correlation_id
    except Exception:
        return None


def scan_records(scan: CardNumberScan, records: Iterable[ConsumerRecord]) -> None:
    for record in records:
        where = f"topic {record.topic}@{record.partition}:{record.offset}"
        scan.check_bytes(f"{where} key", record.key)
        scan.check_bytes(f"{where} value", record.value)
        for name, value in record.headers or ():
            scan.check(f"{where} header name", name)
            scan.check_bytes(f"{where} header {name[:40]!r} value", value)


async def current_xid(system: FourServices) -> int:
    """The database's transaction counter now: rows written later have a higher ``xmin``."""
    runtime = next(iter(system.runtimes.values()))
    return int(await runtime.pool.fetchval("SELECT pg_current_xact_id()::text::bigint"))


async def scan_tables(scan: CardNumberScan, system: FourServices, *, since_xid: int) -> int:
    """Every row of every table of every service schema written (or updated) since
    ``since_xid``: the corpus is the same every run, so rows an earlier run left in a shared
    database must not be blamed on this one. Returns how many rows were read."""
    rows_read = 0
    for service, runtime in system.runtimes.items():
        tables = await runtime.pool.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name",
            service,
        )
        for table in tables:
            name = table["table_name"]
            async with runtime.pool.acquire() as connection, connection.transaction():
                # xmin is the 32-bit part of the writing transaction's id.
                cursor = connection.cursor(
                    f'SELECT * FROM {service}."{name}" WHERE xmin::text::bigint >= $1',
                    since_xid % 2**32,
                )
                async for row in cursor:
                    rows_read += 1
                    for column, value in row.items():
                        text = (
                            value.decode("utf-8", "replace")
                            if isinstance(value, bytes)
                            else str(value)
                        )
                        scan.check(f"table {service}.{name}.{column}", text)
    return rows_read


def unaccounted_skips(consumer: str, topic: str) -> float:
    """Records this consumer counted under an outcome other than applied / dead-lettered /
    duplicate / redelivery: the ones it skipped (under whatever outcome name)."""
    total = 0.0
    for family in metrics.EVENTS_CONSUMED.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            labels = sample.labels
            if (
                labels.get("consumer") == consumer
                and labels.get("topic") == topic
                and labels.get("outcome") not in NOT_SKIPPED
            ):
                total += sample.value
    return total
