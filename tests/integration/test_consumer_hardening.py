"""What the consumer does with hostile records and infrastructure hiccups (real Kafka and
PostgreSQL, the probe service in-process).

* A cancelled query or an unexpected handler exception is retried, never dead-lettered at once;
  only a record whose handler keeps failing is dead-lettered, with every failure it met.
* Records of event types (or schema versions) the consumer does not handle are skipped, not
  dead-lettered: the contract publishes a V2 alongside V1 on the same topic.
* Screening or decoding that fails in any way dead-letters the record; the partition moves on.
* A dead letter always fits on the broker: an oversized one is truncated, with a digest.
* The inbox is purged by age; consumer positions belong to one life of a topic.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from orderflow_chassis.consumer import (
    BatchLocker,
    BatchWriter,
    Handler,
    RecordInspector,
    Subscription,
)
from orderflow_chassis.dead_letters import failure_details
from orderflow_chassis.errors import PermanentError
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.runtime import ServiceRuntime
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.topic_ids import fetch_topic_ids
from orderflow_contracts.envelope import Envelope
from orderflow_contracts.events import CartItemAdded, Event
from orderflow_localinfra.discovery import Infrastructure

from tests.support.events import cart_item_added
from tests.support.kafka_tools import (
    Message,
    create_topics,
    eventually,
    publish_records,
    read_topic,
    unique_topic,
)
from tests.support.probe_service import (
    MIGRATIONS,
    ProbeStore,
    ProbeUnit,
    probe_settings,
    record_effect,
)

pytestmark = pytest.mark.integration


@asynccontextmanager
async def probe(
    infrastructure: Infrastructure,
    topic: str,
    handler: Handler = record_effect,
    *,
    group: str | None = None,
    schema: str = "probe_a",
    inspect_record: RecordInspector | None = None,
    lock_ahead: BatchLocker | None = None,
    write_behind: BatchWriter | None = None,
    **settings: Any,
) -> AsyncIterator[ServiceRuntime]:
    definition = ServiceDefinition(
        name=schema,
        migrations=load_migrations("probe", MIGRATIONS),
        repositories=lambda connection: ProbeStore(connection, schema),
        subscriptions=[
            Subscription(
                name=group or f"hardening-{uuid.uuid4().hex[:8]}",
                topics=[topic],
                handlers={CartItemAdded: handler},
                inspect_record=inspect_record,
                lock_ahead=lock_ahead,
                write_behind=write_behind,
            )
        ],
    )
    runtime = ServiceRuntime(
        definition,
        probe_settings(
            schema,
            database_url=infrastructure.service_database_urls[schema],
            kafka=infrastructure.kafka_bootstrap_servers,
            consumer_batch_timeout_ms=50,
            relay_poll_interval_s=0.2,
            consumer_retry_initial_delay_s=0.01,
            consumer_retry_max_delay_s=0.05,
            **settings,
        ),
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def valid(envelope: Envelope) -> Message:
    return (
        envelope.key,
        envelope.to_bytes(),
        [
            ("event_type", envelope.event_type.encode()),
            ("event_id", str(envelope.event_id).encode()),
        ],
    )


async def applied_count(
    runtime: ServiceRuntime, event_ids: Sequence[uuid.UUID]
) -> Counter[uuid.UUID]:
    rows = await runtime.pool.fetch(
        "SELECT event_id FROM effects WHERE event_id = ANY($1::uuid[])", list(event_ids)
    )
    return Counter(row["event_id"] for row in rows)


async def applied_once(runtime: ServiceRuntime, envelopes: Sequence[Envelope]) -> None:
    ids = [e.event_id for e in envelopes]
    found = await eventually(
        lambda: applied_count(runtime, ids), lambda c: len(c) == len(ids), timeout_s=30
    )
    assert found == Counter(ids), "every valid event applied exactly once"


async def dead_letters_written(runtime: ServiceRuntime, topic: str) -> int:
    count = await runtime.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE event_type = 'DeadLetter' AND topic = $1",
        f"{topic}.dlq",
    )
    return int(count)


async def test_cancelled_queries_are_retried_not_dead_lettered(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("cancelled")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic])
    envelopes = [cart_item_added(f"cart-cancel-{i}", sku=f"SKU-{i:03d}") for i in range(6)]
    calls: Counter[str] = Counter()

    async def cancelled_twice(event: CartItemAdded, uow: ProbeUnit) -> None:
        calls[event.sku] += 1
        if calls[event.sku] <= 2:  # what statement_timeout or pg_cancel_backend raises
            await uow.repos.connection.execute("SET LOCAL statement_timeout = '20ms'")
            await uow.repos.connection.execute("SELECT pg_sleep(2)")
        await record_effect(event, uow)

    await publish_records(
        infrastructure.kafka_bootstrap_servers, topic, [valid(e) for e in envelopes]
    )
    async with probe(infrastructure, topic, cancelled_twice) as runtime:
        await applied_once(runtime, envelopes)
        assert await dead_letters_written(runtime, topic) == 0
    assert all(count >= 3 for count in calls.values())


async def test_a_transient_failure_outlasting_the_handler_attempts_is_never_dead_lettered(
    infrastructure: Infrastructure,
) -> None:
    """Transient failures are retried without limit; only unexpected ones count towards
    ``handler_attempts``. A database that stays unavailable for longer than that bound must
    not turn valid events into dead letters."""
    topic = unique_topic("long-outage")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    envelope = cart_item_added("cart-outage", sku="SKU-OUTAGE")
    calls: Counter[str] = Counter()

    async def unavailable_for_a_while(event: CartItemAdded, uow: ProbeUnit) -> None:
        calls[event.sku] += 1
        if calls[event.sku] <= 8:  # more than the 2 handler attempts allowed below
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        await record_effect(event, uow)

    await publish_records(infrastructure.kafka_bootstrap_servers, topic, [valid(envelope)])
    async with probe(
        infrastructure, topic, unavailable_for_a_while, consumer_handler_attempts=2
    ) as runtime:
        await applied_once(runtime, [envelope])
        assert await dead_letters_written(runtime, topic) == 0
    assert calls["SKU-OUTAGE"] == 9


async def test_a_refusal_mid_batch_undoes_only_that_records_writes(
    infrastructure: Infrastructure,
) -> None:
    """Batches are applied without a savepoint per record; a handler that refuses a record
    after writing must still leave no trace of it, and the records around it applied once."""
    topic = unique_topic("refused-mid-batch")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    before = cart_item_added("cart-refuse", sku="SKU-BEFORE")
    refused = cart_item_added("cart-refuse", sku="SKU-REFUSED")
    after = cart_item_added("cart-refuse", sku="SKU-AFTER")

    async def refuse_after_writing(event: CartItemAdded, uow: ProbeUnit) -> None:
        await record_effect(event, uow)
        if event.sku == "SKU-REFUSED":
            raise PermanentError("unknown_sku", "SKU-REFUSED is not sold")

    await publish_records(
        infrastructure.kafka_bootstrap_servers,
        topic,
        [valid(before), valid(refused), valid(after)],
    )
    async with probe(infrastructure, topic, refuse_after_writing) as runtime:
        await applied_once(runtime, [before, after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
        assert await applied_count(runtime, [refused.event_id]) == Counter()
        assert await dead_letters_written(runtime, topic) == 1
    assert failure_details(letters[0].headers)["error_code"] == "unknown_sku"


def deferring_probe_hooks(
    refuse_sku: str | None = None, poison_sku: str | None = None
) -> tuple[BatchLocker, Handler, BatchWriter, list[int]]:
    """A subscription that defers its effects to its ``write_behind``: the handler refuses
    ``refuse_sku`` (before deferring), the write refuses a batch holding ``poison_sku``. The
    list gets how many effects each write stored."""
    deferred: list[tuple[uuid.UUID, str, str]] = []
    writes: list[int] = []

    async def start_attempt(events: Sequence[Event], uow: ProbeUnit) -> None:
        deferred.clear()  # what an attempt that failed deferred is not written

    async def defer_or_refuse(event: CartItemAdded, uow: ProbeUnit) -> None:
        assert uow.cause is not None
        if event.sku == refuse_sku:
            raise PermanentError("unknown_sku", f"{refuse_sku} is not sold")
        deferred.append((uow.cause.event_id, event.cart_id, event.sku))  # its last step

    async def write_deferred(uow: ProbeUnit) -> None:
        taken = list(deferred)
        deferred.clear()  # taken first, as the services' writes do: a failure leaves none
        if any(sku == poison_sku for _, _, sku in taken):
            raise PermanentError("unwritable", f"{poison_sku} cannot be stored")
        for event_id, cart_id, sku in taken:
            await uow.repos.record_effect(event_id, cart_id, sku)
        writes.append(len(taken))

    return start_attempt, defer_or_refuse, write_deferred, writes


async def test_deferred_writes_go_in_with_their_batch_and_never_for_a_refused_record(
    infrastructure: Infrastructure,
) -> None:
    """A subscription's ``write_behind`` stores what its handlers deferred: once per batch,
    and per record (inside its savepoint) when a refusal has the batch applied with them."""
    topic = unique_topic("write-behind")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    before = cart_item_added("cart-defer", sku="SKU-BEFORE")
    refused = cart_item_added("cart-defer", sku="SKU-REFUSED")
    after = cart_item_added("cart-defer", sku="SKU-AFTER")
    # Published before the consumer starts: one batch, the refusal after a deferral.
    await publish_records(
        infrastructure.kafka_bootstrap_servers,
        topic,
        [valid(before), valid(refused), valid(after)],
    )
    start_attempt, defer_or_refuse, write_deferred, writes = deferring_probe_hooks(
        refuse_sku="SKU-REFUSED"
    )
    async with probe(
        infrastructure,
        topic,
        defer_or_refuse,
        lock_ahead=start_attempt,
        write_behind=write_deferred,
    ) as run:
        await applied_once(run, [before, after])
        await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
        assert await applied_count(run, [refused.event_id]) == Counter()
        # Applied again with savepoints: each record's effect by a write of its own.
        assert writes == [1, 1], writes


async def test_deferred_writes_that_fail_are_pinned_on_their_record(
    infrastructure: Infrastructure,
) -> None:
    """A batch whose deferred writes are refused is applied again record by record: the
    record whose write is refused is dead-lettered, the others applied once."""
    topic = unique_topic("write-behind-poison")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    before = cart_item_added("cart-poison", sku="SKU-BEFORE")
    poison = cart_item_added("cart-poison", sku="SKU-POISON")
    after = cart_item_added("cart-poison", sku="SKU-AFTER")
    await publish_records(
        infrastructure.kafka_bootstrap_servers,
        topic,
        [valid(before), valid(poison), valid(after)],
    )
    start_attempt, defer, write_deferred, _ = deferring_probe_hooks(poison_sku="SKU-POISON")
    async with probe(
        infrastructure, topic, defer, lock_ahead=start_attempt, write_behind=write_deferred
    ) as run:
        await applied_once(run, [before, after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
        assert await applied_count(run, [poison.event_id]) == Counter()
    assert failure_details(letters[0].headers)["error_code"] == "unwritable"


async def test_an_unexpected_handler_failure_is_retried_before_anything_is_dead_lettered(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("flaky-handler")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    flaky = cart_item_added("cart-flaky", sku="SKU-FLAKY")
    broken = cart_item_added("cart-broken", sku="SKU-BROKEN")
    after = cart_item_added("cart-after", sku="SKU-AFTER")
    calls: Counter[str] = Counter()

    async def handler(event: CartItemAdded, uow: ProbeUnit) -> None:
        calls[event.sku] += 1
        if event.sku == "SKU-BROKEN" or (event.sku == "SKU-FLAKY" and calls[event.sku] <= 2):
            raise KeyError(f"no stock row for {event.sku}")
        await record_effect(event, uow)

    await publish_records(
        infrastructure.kafka_bootstrap_servers, topic, [valid(flaky), valid(broken), valid(after)]
    )
    async with probe(infrastructure, topic, handler, consumer_handler_attempts=3) as runtime:
        await applied_once(runtime, [flaky, after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
        assert await applied_count(runtime, [broken.event_id]) == Counter()

    assert len(letters) == 1, "only the record that kept failing is dead-lettered"
    details = failure_details(letters[0].headers)
    assert details["error_code"] == "handler_failed"
    assert details["reason"].startswith("KeyError: 'no stock row for SKU-BROKEN' at ")
    assert details["reason"].endswith("(failed 3 times, the same way each time)")
    assert calls["SKU-BROKEN"] == 3
    assert letters[0].value == broken.to_bytes()


async def test_unknown_types_and_newer_versions_are_skipped_not_dead_lettered(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("forward-compatible")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    before = cart_item_added("cart-fc", sku="SKU-1")
    after = cart_item_added("cart-fc", sku="SKU-2")
    unknown = json.loads(cart_item_added("cart-fc", sku="SKU-3").to_bytes())
    unknown["event_type"] = "CartItemGiftWrapped"
    newer = json.loads(cart_item_added("cart-fc", sku="SKU-4").to_bytes())
    newer["schema_version"] = 2
    newer["data"]["quantity"] = {"value": 2, "unit": "each"}  # V2 may change a field's shape
    messages: list[Message] = [
        valid(before),
        # A type the contract does not know, announced by its header: screened for card data
        # only, then skipped without being decoded.
        (b"cart-fc", b"\x00\xff not json at all", [("event_type", b"CartItemGiftWrapped")]),
        (b"cart-fc", json.dumps(unknown).encode(), []),  # no header: decoded, then skipped
        (b"cart-fc", json.dumps(newer).encode(), [("event_type", b"CartItemAdded")]),
        valid(after),
    ]
    await publish_records(infrastructure.kafka_bootstrap_servers, topic, messages)
    async with probe(infrastructure, topic) as runtime:
        await applied_once(runtime, [before, after])
        assert await dead_letters_written(runtime, topic) == 0


async def test_a_card_number_in_a_type_the_contract_does_not_know_is_dead_lettered(
    infrastructure: Infrastructure,
) -> None:
    # No consumer decodes a type the contract does not know, so each one screens it.
    topic = unique_topic("unknown-with-card")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    before = cart_item_added("cart-uc", sku="SKU-1")
    after = cart_item_added("cart-uc", sku="SKU-2")
    unknown = json.loads(cart_item_added("cart-uc", sku="SKU-3").to_bytes())
    unknown["event_type"] = "CartGiftNoteAdded"
    unknown["data"]["note"] = "pay with 4111 1111 1111 1111"
    messages: list[Message] = [
        valid(before),
        (b"cart-uc", json.dumps(unknown).encode(), [("event_type", b"CartGiftNoteAdded")]),
        valid(after),
    ]
    await publish_records(infrastructure.kafka_bootstrap_servers, topic, messages)
    async with probe(infrastructure, topic) as runtime:
        await applied_once(runtime, [before, after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
    assert [failure_details(letter.headers)["error_code"] for letter in letters] == [
        "card_data_refused"
    ]
    assert b"4111 1111 1111 1111" not in (letters[0].value or b"")


async def test_card_data_a_scan_of_bytes_cannot_see_never_reaches_a_dead_letter(
    infrastructure: Infrastructure,
) -> None:
    """A duplicate key, a field named cvv, escaped digits in JSON too deep to read, UTF-16: each
    record is dead-lettered, and no letter holds the card number however it is read."""
    topic = unique_topic("hidden-cards")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    pan = "4111111111111111"
    before = cart_item_added("cart-hc", sku="SKU-1")
    after = cart_item_added("cart-hc", sku="SKU-2")
    text = cart_item_added("cart-hc", sku="SKU-3").to_bytes().decode()
    duplicated = text.replace('"sku":', f'"note":"{pan}","note":"x","sku":', 1)
    with_cvv = text.replace('"sku":', '"cvv":"737","sku":', 1)
    escaped = "".join(f"\\u{ord(c):04x}" for c in pan)
    too_deep = f'{{"note": "{escaped}", "pad": {"[" * 70}{"]" * 70}}}'
    headers = [("event_type", b"CartItemAdded")]
    messages: list[Message] = [
        valid(before),
        (b"cart-hc", duplicated.encode(), headers),
        (b"cart-hc", with_cvv.encode(), headers),
        (b"cart-hc", too_deep.encode(), headers),
        (b"cart-hc", f"PAN {pan} CVV 123".encode("utf-16-le"), headers),
        (b"cart-hc", b'{"not": "an envelope"}', [*headers, ("x-note", pan.encode("utf-16-le"))]),
        valid(after),
    ]
    await publish_records(infrastructure.kafka_bootstrap_servers, topic, messages)
    async with probe(infrastructure, topic) as runtime:
        await applied_once(runtime, [before, after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=5)
    found = [
        (details["error_code"], details.get("withheld"))
        for details in (failure_details(letter.headers) for letter in letters)
    ]
    assert found == [
        ("card_data_refused", None),
        ("card_data_refused", None),
        ("payload_too_deep", "value"),
        ("malformed_json", "value"),
        ("invalid_envelope", "header values"),
    ]
    assert b'"note":"[REDACTED-PAN]","note":"x"' in (letters[0].value or b"")
    assert b'"cvv":"[REDACTED-CARD-DATA]"' in (letters[1].value or b"")
    for letter in letters:
        everything = b"|".join(
            [letter.key or b"", letter.value or b""] + [value for _, value in letter.headers]
        )
        for reading in (everything, everything.replace(b"\x00", b"")):
            assert pan.encode() not in reading
        assert b"\\u0034" not in everything


async def test_a_screening_failure_dead_letters_the_record_and_the_partition_moves_on(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("inspection-crash")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    before = cart_item_added("cart-ic", sku="SKU-1")
    after = cart_item_added("cart-ic", sku="SKU-2")

    def crashing_inspector(record: ConsumerRecord) -> None:
        if b"detonate" in (record.value or b""):
            raise RecursionError("maximum recursion depth exceeded")

    await publish_records(
        infrastructure.kafka_bootstrap_servers,
        topic,
        [valid(before), (b"cart-ic", b'{"detonate": true}', []), valid(after)],
    )
    async with probe(infrastructure, topic, inspect_record=crashing_inspector) as runtime:
        await applied_once(runtime, [before, after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
    assert [failure_details(letter.headers)["error_code"] for letter in letters] == ["undecodable"]


async def test_a_dead_letter_of_a_record_at_the_size_limit_is_truncated_with_a_digest(
    infrastructure: Infrastructure,
) -> None:
    topic = unique_topic("huge")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    huge = b'{"x": "' + b"a" * 990_000  # not even JSON, and as large as the broker takes
    headers = [(f"h{i}", b"v" * 1_000) for i in range(30)]
    after = cart_item_added("cart-huge", sku="SKU-1")
    await publish_records(
        infrastructure.kafka_bootstrap_servers,
        topic,
        [(b"cart-huge", huge, headers), valid(after)],
    )
    async with probe(infrastructure, topic) as runtime:
        await applied_once(runtime, [after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
    assert len(letters) == 1
    details = failure_details(letters[0].headers)
    assert details["error_code"] == "malformed_json"
    assert details["truncated"] == "true"
    assert details["original_size"] == str(len(huge))
    assert details["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert letters[0].value == huge[: 64 * 1024]
    size = len(letters[0].value) + sum(len(k) + len(v) for k, v in letters[0].headers)
    assert size < 1_000_000


async def test_the_inbox_is_purged_after_its_retention(infrastructure: Infrastructure) -> None:
    topic = unique_topic("inbox-purge")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    consumer = f"purge-test-{uuid.uuid4().hex[:8]}"
    old_id, recent_id = uuid.uuid4(), uuid.uuid4()
    async with probe(infrastructure, topic, inbox_retention_hours=24) as runtime:
        await runtime.pool.execute(
            """
            INSERT INTO inbox (consumer, event_id, event_type, topic, kafka_partition,
                               kafka_offset, processed_at)
            VALUES ($1, $2, 'CartItemAdded', $3, 0, 0, now() - interval '25 hours'),
                   ($1, $4, 'CartItemAdded', $3, 0, 1, now() - interval '23 hours')
            """,
            consumer,
            old_id,
            topic,
            recent_id,
        )
    # The purge runs when a service starts, then every hour.
    async with probe(infrastructure, topic, inbox_retention_hours=24) as runtime:

        async def kept() -> set[uuid.UUID]:
            rows = await runtime.pool.fetch(
                "SELECT event_id FROM inbox WHERE consumer = $1", consumer
            )
            return {row["event_id"] for row in rows}

        assert await eventually(kept, lambda ids: ids == {recent_id}) == {recent_id}


async def test_positions_of_a_deleted_topic_do_not_skip_the_new_topic_of_the_same_name(
    infrastructure: Infrastructure,
) -> None:
    kafka = infrastructure.kafka_bootstrap_servers
    topic = unique_topic("recreated")
    group = f"recreated-{uuid.uuid4().hex[:8]}"
    await create_topics(kafka, [topic], partitions=1)
    first_life = [cart_item_added("cart-life", sku=f"SKU-{i}") for i in range(5)]
    await publish_records(kafka, topic, [valid(e) for e in first_life])
    async with probe(infrastructure, topic, group=group) as runtime:
        await applied_once(runtime, first_life)

    await recreate_topic(kafka, topic)
    second_life = [cart_item_added("cart-life", sku=f"SKU-NEW-{i}") for i in range(2)]
    await publish_records(kafka, topic, [valid(e) for e in second_life])  # offsets 0 and 1 again
    async with probe(infrastructure, topic, group=group) as runtime:
        await applied_once(runtime, second_life)


async def recreate_topic(bootstrap: str, topic: str) -> None:
    """Delete ``topic`` and create it again: same name, new id, offsets from 0."""
    old_id = (await fetch_topic_ids(bootstrap, [topic]))[topic]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()

    async def new_id() -> uuid.UUID | None:
        with contextlib.suppress(Exception):  # still being deleted
            await create_topics(bootstrap, [topic], partitions=1)
        return (await fetch_topic_ids(bootstrap, [topic])).get(topic)

    found = await eventually(new_id, lambda found: found not in (None, old_id), timeout_s=30)
    assert found not in (None, old_id)


async def test_header_bytes_that_are_not_utf8_do_not_make_the_batch_vanish(
    infrastructure: Infrastructure,
) -> None:
    """FastStream's own parser decodes header values as strict UTF-8; a failure there dropped
    the whole batch without a rewind, and the valid events in it were never applied."""
    topic = unique_topic("binary-headers")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    before = [cart_item_added("cart-bin", sku=f"SKU-B{i}") for i in range(5)]
    after = [cart_item_added("cart-bin", sku=f"SKU-A{i}") for i in range(5)]
    odd = cart_item_added("cart-bin", sku="SKU-ODD")
    await publish_records(
        infrastructure.kafka_bootstrap_servers,
        topic,
        [
            *(valid(e) for e in before),
            (odd.key, odd.to_bytes(), [("trace", b"\xff\xfe\x00binary")]),
            *(valid(e) for e in after),
        ],
    )
    async with probe(infrastructure, topic) as runtime:
        await applied_once(runtime, [*before, odd, *after])


async def test_a_dead_letter_of_a_key_and_header_name_holding_nul_goes_out_without_them(
    infrastructure: Infrastructure,
) -> None:
    """PostgreSQL text and jsonb refuse NUL: such a dead letter once stalled its partition. A NUL
    also means text a scan of bytes cannot screen (UTF-16 digits): both are withheld."""
    topic = unique_topic("nul-key")
    await create_topics(infrastructure.kafka_bootstrap_servers, [topic], partitions=1)
    after = cart_item_added("cart-nul", sku="SKU-1")
    await publish_records(
        infrastructure.kafka_bootstrap_servers,
        topic,
        [(b"cart\x00nul", b"not json", [("na\x00me", b"v")]), valid(after)],
    )
    async with probe(infrastructure, topic) as runtime:
        await applied_once(runtime, [after])
        letters = await read_topic(infrastructure.kafka_bootstrap_servers, f"{topic}.dlq", expect=1)
    assert len(letters) == 1
    assert letters[0].key == b"[WITHHELD]"
    assert ("[WITHHELD]", b"v") in letters[0].headers
    details = failure_details(letters[0].headers)
    assert (details["error_code"], details["withheld"]) == ("malformed_json", "key, header names")
