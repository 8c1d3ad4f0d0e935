-- The chassis's tables, created in every service's own schema.

-- Transactional outbox: rows are written in the same transaction as the state change that
-- emits them; the relay publishes unsent rows and stamps sent_at. Nothing committed is lost.
CREATE TABLE {schema}.outbox (
    id           bigserial   PRIMARY KEY,
    event_id     uuid        NOT NULL,
    topic        text        NOT NULL,
    message_key  text        NOT NULL,
    payload      bytea       NOT NULL,
    -- Kafka headers as [[name, base64 value], ...]: header values are bytes.
    headers      jsonb       NOT NULL DEFAULT '[]',
    event_type   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz
);
-- The relay scans only what is still to send.
CREATE INDEX outbox_unsent ON {schema}.outbox (id) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent_at ON {schema}.outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Per-aggregate sequence numbers for emitted events. The upsert row lock also serialises two
-- transactions emitting for the same aggregate, so their outbox ids follow commit order.
CREATE TABLE {schema}.outbox_sequences (
    aggregate_id  text   PRIMARY KEY,
    last_sequence bigint NOT NULL
);

-- Inbox: event ids this service's consumer has applied, written with the effects.
CREATE TABLE {schema}.inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    topic        text        NOT NULL,
    kafka_partition integer  NOT NULL,
    kafka_offset bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Consumer positions (the tracking-table idea): the next offset to apply per partition,
-- committed with the effects. A redelivery below it, poison messages included, is skipped.
CREATE TABLE {schema}.consumer_positions (
    consumer        text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    next_offset     bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, topic, kafka_partition)
);
