-- The returns service's tables. Facts learnt from other services' events are stored as they
-- come (events arrive in any order across topics); decisions are taken on what is known then.
-- Money: numeric amounts with a currency column, never float.

-- OrderPlaced: what was bought and paid, and where it shipped.
CREATE TABLE {schema}.orders (
    order_id         uuid        PRIMARY KEY,
    customer_id      text        NOT NULL,
    currency         text        NOT NULL,
    subtotal         numeric     NOT NULL,
    shipping_fee     numeric     NOT NULL,
    total            numeric     NOT NULL,
    ship_to          jsonb       NOT NULL,
    placed_at        timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.order_lines (
    order_id    uuid    NOT NULL REFERENCES {schema}.orders,
    sku         text    NOT NULL,
    name        text    NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric NOT NULL,
    line_total  numeric NOT NULL,
    PRIMARY KEY (order_id, sku)
);

-- ShipmentDelivered: which units reached the customer, when (opens their return window).
CREATE TABLE {schema}.deliveries (
    shipment_id  uuid        NOT NULL,
    sku          text        NOT NULL,
    order_id     uuid        NOT NULL,
    quantity     integer     NOT NULL CHECK (quantity > 0),
    delivered_at timestamptz NOT NULL,
    replacement  boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (shipment_id, sku)
);
CREATE INDEX deliveries_by_order ON {schema}.deliveries (order_id);

-- PaymentCaptured: what was actually charged (the refund ceiling).
CREATE TABLE {schema}.captures (
    payment_id  uuid    PRIMARY KEY,
    order_id    uuid    NOT NULL,
    amount      numeric NOT NULL,
    currency    text    NOT NULL
);
CREATE INDEX captures_by_order ON {schema}.captures (order_id);

-- Every return request and its answer: one answer per (order, storefront request id).
CREATE TABLE {schema}.return_requests (
    order_id          uuid        NOT NULL,
    return_request_id text        NOT NULL,
    outcome           text        NOT NULL CHECK (outcome IN ('authorised', 'rejected')),
    reason_code       text,
    message           text,
    rma_id            uuid,
    requested_at      timestamptz NOT NULL,
    decided_at        timestamptz NOT NULL,
    PRIMARY KEY (order_id, return_request_id)
);

CREATE TABLE {schema}.rmas (
    rma_id             uuid        PRIMARY KEY,
    order_id           uuid        NOT NULL,
    return_request_id  text        NOT NULL,
    correlation_id     text        NOT NULL,
    state              text        NOT NULL CHECK (state IN
                           ('authorised', 'received', 'refund_requested', 'refund_failed', 'closed')),
    reason             text        NOT NULL,
    authorised_at      timestamptz NOT NULL,
    return_by          date        NOT NULL,
    received_at        timestamptz,
    warehouse_id       text,
    current_refund_id  uuid,
    refund_attempts    integer     NOT NULL DEFAULT 0,
    currency           text,
    refund_amount      numeric,
    shipping_refund    numeric,
    problem_code       text,
    problem_message    text,
    closed_at          timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (order_id, return_request_id)
);
CREATE INDEX rmas_by_order ON {schema}.rmas (order_id);
CREATE INDEX rmas_open_by_state ON {schema}.rmas (state) WHERE state <> 'closed';

-- Per SKU of an RMA: authorised, then what came back and what it refunds.
CREATE TABLE {schema}.rma_lines (
    rma_id              uuid    NOT NULL REFERENCES {schema}.rmas,
    sku                 text    NOT NULL,
    authorised_quantity integer NOT NULL CHECK (authorised_quantity >= 0),
    received_quantity   integer CHECK (received_quantity >= 0),
    damaged_quantity    integer CHECK (damaged_quantity >= 0),
    -- min(received, authorised): the units this RMA takes back and refunds
    returned_quantity   integer CHECK (returned_quantity >= 0),
    refund_amount       numeric,
    PRIMARY KEY (rma_id, sku)
);

-- Refunds of the order: requested by us (origin 'rma'), or learnt from a RefundIssued we did
-- not request (origin 'payment', e.g. a cancellation after capture). Both count against the
-- ceiling.
CREATE TABLE {schema}.refunds (
    refund_id       uuid        PRIMARY KEY,
    order_id        uuid        NOT NULL,
    rma_id          uuid,
    attempt         integer,
    origin          text        NOT NULL CHECK (origin IN ('rma', 'payment')),
    state           text        NOT NULL CHECK (state IN ('requested', 'issued', 'failed')),
    amount          numeric     NOT NULL,
    currency        text        NOT NULL,
    shipping_refund numeric     NOT NULL DEFAULT 0,
    failure_code    text,
    failure_message text,
    requested_at    timestamptz,
    settled_at      timestamptz
);
CREATE INDEX refunds_by_order ON {schema}.refunds (order_id);

CREATE TABLE {schema}.warranty_claims (
    order_id           uuid        NOT NULL,
    claim_id           text        NOT NULL,
    sku                text        NOT NULL,
    quantity           integer     NOT NULL,
    country_of_usage   text        NOT NULL,
    defect_description text        NOT NULL,
    serial_number      text,
    outcome            text        NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    reason_code        text,
    message            text,
    term_months        integer,
    warranty_ends_on   date,
    filed_at           timestamptz NOT NULL,
    decided_at         timestamptz NOT NULL,
    PRIMARY KEY (order_id, claim_id)
);

-- One row per unit replaced under warranty: the primary key is the "never twice" guarantee.
CREATE TABLE {schema}.warranty_units (
    order_id    uuid    NOT NULL,
    sku         text    NOT NULL,
    unit_index  integer NOT NULL CHECK (unit_index > 0),
    claim_id    text    NOT NULL,
    PRIMARY KEY (order_id, sku, unit_index)
);
