-- The cart service's own tables. Amounts are exact numerics; ids are the storefront's.

CREATE TABLE {schema}.catalog_products (
    sku        text          PRIMARY KEY
               CHECK (sku ~ '^[A-Z0-9]+(-[A-Z0-9]+)*$' AND length(sku) BETWEEN 2 AND 32),
    name       text          NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    price_usd  numeric(12,2) NOT NULL CHECK (price_usd > 0),
    -- Products dropped from a loaded catalog are kept (orders refer to them) but not sold.
    active     boolean       NOT NULL DEFAULT true,
    updated_at timestamptz   NOT NULL DEFAULT now()
);

-- The current rate of each currency: 1 USD = rate units of the currency.
CREATE TABLE {schema}.fx_rates (
    currency  text        PRIMARY KEY CHECK (currency ~ '^[A-Z]{3}$'),
    rate      numeric     NOT NULL CHECK (rate > 0),
    as_of     timestamptz NOT NULL,
    source    text        NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {schema}.carts (
    cart_id             text        PRIMARY KEY,
    status              text        NOT NULL DEFAULT 'open'
                        CHECK (status IN ('open', 'abandoned', 'checked_out')),
    currency            text,
    last_sequence       bigint      NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
    customer_id         text,
    order_id            uuid        UNIQUE,
    created_at          timestamptz NOT NULL,
    last_activity_at    timestamptz,
    last_event_id       uuid,
    last_correlation_id text,
    abandoned_at        timestamptz,
    checked_out_at      timestamptz,
    CHECK ((status = 'checked_out') = (order_id IS NOT NULL))
);
CREATE INDEX carts_idle ON {schema}.carts (last_activity_at) WHERE status = 'open';

CREATE TABLE {schema}.cart_lines (
    cart_id  text    NOT NULL REFERENCES {schema}.carts ON DELETE CASCADE,
    sku      text    NOT NULL,
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    position integer NOT NULL,
    PRIMARY KEY (cart_id, sku)
);

-- Events that arrived ahead of their turn (a gap in the storefront's sequence). Deleted when
-- applied. A buffered CheckoutRequested holds the payment token only until then.
CREATE TABLE {schema}.pending_cart_events (
    cart_id     text        NOT NULL REFERENCES {schema}.carts ON DELETE CASCADE,
    sequence    bigint      NOT NULL,
    event_id    uuid        NOT NULL,
    event_type  text        NOT NULL,
    envelope    jsonb       NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (cart_id, sequence)
);
CREATE INDEX pending_cart_events_received ON {schema}.pending_cart_events (received_at);

-- Events received but not applied, and why (for ops). No payload: nothing sensitive is kept.
CREATE TABLE {schema}.unapplied_cart_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cart_id     text        NOT NULL,
    event_id    uuid        NOT NULL,
    event_type  text        NOT NULL,
    sequence    bigint,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX unapplied_cart_events_cart ON {schema}.unapplied_cart_events (cart_id, id);

-- Sequence numbers that never arrived and were given up on after the gap timeout.
CREATE TABLE {schema}.skipped_cart_sequences (
    cart_id        text        NOT NULL,
    first_sequence bigint      NOT NULL,
    last_sequence  bigint      NOT NULL,
    skipped_at     timestamptz NOT NULL,
    PRIMARY KEY (cart_id, first_sequence)
);

-- The order each checked-out cart became. `snapshot` is the OrderPlaced data without the
-- payment token (only its last four characters are kept).
CREATE TABLE {schema}.orders (
    order_id          uuid        PRIMARY KEY,
    cart_id           text        NOT NULL UNIQUE,
    customer_id       text        NOT NULL,
    currency          text        NOT NULL,
    subtotal          numeric     NOT NULL,
    shipping_fee      numeric     NOT NULL,
    total             numeric     NOT NULL,
    base_subtotal_usd numeric     NOT NULL,
    fx_rate           numeric     NOT NULL,
    fx_source         text        NOT NULL,
    fx_as_of          timestamptz NOT NULL,
    placed_at         timestamptz NOT NULL,
    snapshot          jsonb       NOT NULL
);
