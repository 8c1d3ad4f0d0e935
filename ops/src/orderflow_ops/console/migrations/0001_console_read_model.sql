-- The ops console's read model: built only from the events on the topics, never from another
-- service's schema. Money is exact (numeric); ids are text as the events carry them.

-- One row per order: where it stands (the rules of `orderflow-ops check`) and its facts.
CREATE TABLE {schema}.orders (
    order_id      text        PRIMARY KEY,
    cart_id       text,
    state         text        NOT NULL,
    placed_at     timestamptz,
    last_event_at timestamptz NOT NULL,
    total         numeric,
    currency      text,
    facts         jsonb       NOT NULL,
    -- Codes of the rules the order breaks whatever the time (over-refund, capture != total...)
    violations    text[]      NOT NULL DEFAULT '{}'
);
CREATE INDEX orders_by_cart ON {schema}.orders (cart_id);
CREATE INDEX orders_by_state ON {schema}.orders (state, last_event_at);
CREATE INDEX orders_by_last_event ON {schema}.orders (last_event_at DESC);
CREATE INDEX orders_violating ON {schema}.orders (order_id) WHERE violations <> '{}';

-- Every event that names an order or something it led to, for the order's timeline.
CREATE TABLE {schema}.events (
    event_id        uuid        PRIMARY KEY,
    event_type      text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,  -- -1 when the record's position was not seen
    kafka_offset    bigint      NOT NULL,
    timestamp_ms    bigint      NOT NULL,
    occurred_at     timestamptz NOT NULL,
    envelope        text        NOT NULL,  -- the envelope as JSON
    traceparent     text
);

-- Which order-related ids (order, cart, shipment, RMA, claim, refund...) each event names.
CREATE TABLE {schema}.event_links (
    linked_id text NOT NULL,
    event_id  uuid NOT NULL REFERENCES {schema}.events (event_id),
    PRIMARY KEY (linked_id, event_id)
);
CREATE INDEX event_links_by_event ON {schema}.event_links (event_id);

-- Events per pipeline stage and minute: the overview's counts and rate chart.
CREATE TABLE {schema}.stage_minutes (
    stage  text        NOT NULL,
    minute timestamptz NOT NULL,
    events bigint      NOT NULL,
    PRIMARY KEY (stage, minute)
);

-- Checkout requests and whether they were answered (CartCheckedOut / CheckoutRejected).
CREATE TABLE {schema}.checkouts (
    event_id     uuid PRIMARY KEY,
    cart_id      text,
    requested_at timestamptz,
    answered_at  timestamptz
);
CREATE INDEX checkouts_unanswered ON {schema}.checkouts (requested_at) WHERE answered_at IS NULL;

-- Carts checked out into orders: a cart must become exactly one order.
CREATE TABLE {schema}.cart_orders (
    cart_id        text        NOT NULL,
    order_id       text        NOT NULL,
    checked_out_at timestamptz NOT NULL,
    PRIMARY KEY (cart_id, order_id)
);

-- RefundIssued events per refund id: a refund issued twice is a violation.
CREATE TABLE {schema}.refunds (
    refund_id text NOT NULL,
    event_id  uuid NOT NULL,
    order_id  text NOT NULL,
    PRIMARY KEY (refund_id, event_id)
);

-- Every dead letter on every dead-letter topic, as published (already redacted by the chassis).
CREATE TABLE {schema}.dead_letters (
    dlq_topic          text        NOT NULL,
    dlq_partition      integer     NOT NULL,
    dlq_offset         bigint      NOT NULL,
    original_topic     text        NOT NULL,
    original_partition integer,
    original_offset    bigint,
    service            text        NOT NULL,
    consumer           text        NOT NULL,
    error_code         text        NOT NULL,
    reason             text        NOT NULL,
    failed_at          timestamptz NOT NULL,
    event_id           text,
    replayed_from      text,  -- set when this letter is a replayed record that failed again
    message_key        bytea,
    message_value      bytea       NOT NULL,
    headers            jsonb       NOT NULL,  -- [[name, base64 value], ...]
    PRIMARY KEY (dlq_topic, dlq_partition, dlq_offset)
);
CREATE INDEX dead_letters_by_time ON {schema}.dead_letters (failed_at DESC);
CREATE INDEX dead_letters_by_event ON {schema}.dead_letters (event_id);
CREATE INDEX dead_letters_by_replay ON {schema}.dead_letters (replayed_from)
    WHERE replayed_from IS NOT NULL;

-- Who replayed which dead letter when, and what became of the replayed record.
CREATE TABLE {schema}.replay_audit (
    id               bigserial   PRIMARY KEY,
    requested_at     timestamptz NOT NULL,
    requested_by     text        NOT NULL,
    role             text        NOT NULL,
    selection        text        NOT NULL,  -- what the operator asked for, as they filtered
    dlq_topic        text        NOT NULL,
    dlq_partition    integer     NOT NULL,
    dlq_offset       bigint      NOT NULL,
    event_id         text,
    target_topic     text        NOT NULL,
    target_partition integer,
    target_offset    bigint,
    consumer         text        NOT NULL,  -- the group that must apply it
    outcome          text        NOT NULL DEFAULT 'sent',  -- sent | applied | dead_lettered_again
    outcome_detail   text,
    outcome_at       timestamptz
);
CREATE INDEX replay_audit_pending ON {schema}.replay_audit (id) WHERE outcome = 'sent';
