-- Fulfillment: warehouses and stock, order reservations, shipments, returns, anomalies.

CREATE TABLE {schema}.warehouses (
    warehouse_id   text PRIMARY KEY,
    name           text NOT NULL,
    country        text NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    near_countries text[] NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- on_hand: units physically in the warehouse (reserved ones included); reserved: promised to
-- orders not yet dispatched. The CHECK is the last line of defence against overselling: the
-- reservation UPDATE itself only succeeds while on_hand - reserved covers the quantity.
CREATE TABLE {schema}.stock (
    warehouse_id text NOT NULL REFERENCES {schema}.warehouses (warehouse_id),
    sku          text NOT NULL,
    on_hand      integer NOT NULL,
    reserved     integer NOT NULL DEFAULT 0,
    counted_at   timestamptz,  -- warehouse time of the last applied StockCounted
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (warehouse_id, sku),
    CONSTRAINT stock_never_oversold CHECK (reserved >= 0 AND on_hand >= reserved)
);
CREATE INDEX stock_by_sku ON {schema}.stock (sku);

-- Every change of on_hand, and every write-off, with the warehouse time it happened.
-- physical_delta: what happened on the shelf; on_hand_delta: what it did to on_hand (0 when
-- a later count had already seen it).
CREATE TABLE {schema}.stock_movements (
    id             bigserial PRIMARY KEY,
    warehouse_id   text NOT NULL,
    sku            text NOT NULL,
    kind           text NOT NULL
                   CHECK (kind IN ('load', 'count', 'dispatch', 'restock', 'write_off')),
    quantity       integer NOT NULL,
    physical_delta integer NOT NULL,
    on_hand_delta  integer NOT NULL,
    reference      text,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stock_movements_by_stock ON {schema}.stock_movements (warehouse_id, sku, occurred_at);

CREATE TABLE {schema}.orders (
    order_id         uuid PRIMARY KEY,
    status           text NOT NULL
                     CHECK (status IN ('reserved', 'unavailable', 'released', 'fulfilling',
                                       'completed')),
    ship_to          jsonb,
    shipping_service text,
    correlation_id   text NOT NULL,
    reserved_at      timestamptz,
    expires_at       timestamptz,
    released_at      timestamptz,
    release_reason   text,
    captured_at      timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_reservations_by_expiry ON {schema}.orders (expires_at)
    WHERE status = 'reserved';

CREATE TABLE {schema}.order_lines (
    order_id uuid NOT NULL REFERENCES {schema}.orders (order_id),
    sku      text NOT NULL,
    name     text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);

CREATE TABLE {schema}.shipments (
    shipment_id      uuid PRIMARY KEY,
    order_id         uuid NOT NULL,
    warehouse_id     text NOT NULL REFERENCES {schema}.warehouses (warehouse_id),
    status           text NOT NULL
                     CHECK (status IN ('reserved', 'requested', 'dispatched', 'delivered',
                                       'released')),
    replacement      boolean NOT NULL DEFAULT false,
    claim_id         text,
    ship_to          jsonb NOT NULL,
    shipping_service text NOT NULL,
    carrier          text,
    tracking_number  text,
    requested_at     timestamptz,
    dispatched_at    timestamptz,
    delivered_at     timestamptz,
    released_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_by_order ON {schema}.shipments (order_id);

CREATE TABLE {schema}.shipment_lines (
    shipment_id uuid NOT NULL REFERENCES {schema}.shipments (shipment_id),
    sku         text NOT NULL,
    name        text NOT NULL,
    quantity    integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, sku)
);

-- Warranty replacements (ReplacementRequested): shipped at no charge; wait for stock
-- ('awaiting_stock') when none is available, retried by a periodic job.
CREATE TABLE {schema}.replacements (
    order_id       uuid NOT NULL,
    claim_id       text NOT NULL,
    status         text NOT NULL CHECK (status IN ('awaiting_stock', 'requested')),
    lines          jsonb NOT NULL,
    ship_to        jsonb NOT NULL,
    correlation_id text NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    requested_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, claim_id)
);
CREATE INDEX replacements_awaiting_stock ON {schema}.replacements (created_at)
    WHERE status = 'awaiting_stock';

-- Return authorisations and the parcels that come back. A parcel can be received before its
-- ReturnAuthorized is read (two topics): order_id is filled in when it is, and the
-- ReturnRestocked report waits for it (restocked_reported_at).
CREATE TABLE {schema}.rmas (
    rma_id                uuid PRIMARY KEY,
    order_id              uuid,
    authorized_lines      jsonb,
    return_by             date,
    authorized_at         timestamptz,
    received_warehouse_id text,
    received_lines        jsonb,
    received_at           timestamptz,
    restocked             jsonb,
    written_off           jsonb,
    restocked_reported_at timestamptz,
    correlation_id        text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Everything that did not fit: unknown shipments, out-of-order or duplicate warehouse
-- reports, counts below reserved, captures after release... One place for ops to look.
CREATE TABLE {schema}.anomalies (
    id            bigserial PRIMARY KEY,
    reason        text NOT NULL,
    event_type    text,
    event_id      uuid,
    aggregate_id  text,
    order_id      uuid,
    shipment_id   uuid,
    rma_id        uuid,
    warehouse_id  text,
    sku           text,
    detail        jsonb NOT NULL DEFAULT '{}',
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX anomalies_by_reason ON {schema}.anomalies (reason, recorded_at);
CREATE INDEX anomalies_by_order ON {schema}.anomalies (order_id);
