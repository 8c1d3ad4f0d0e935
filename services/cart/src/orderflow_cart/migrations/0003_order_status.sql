-- Order status for storefronts: one row per order, the projection of every event about it
-- (orders, carts, payments, fulfillment, returns). `facts` is what the events said, each under
-- its own key; `view` is the status derived from them, served as stored by GET /orders/{id}
-- (json, not jsonb: nothing queries inside it, and its text keeps the documented key order);
-- `version` counts the events applied (the ETag and the SSE event id). The last applied event
-- is the position the row reflects.
CREATE TABLE {schema}.order_status (
    order_id         uuid PRIMARY KEY,
    cart_id          text,
    customer_id      text,
    placed_at        timestamptz,
    state            text        NOT NULL,
    facts            jsonb       NOT NULL,
    view             json        NOT NULL,
    version          bigint      NOT NULL,
    last_event_id    uuid        NOT NULL,
    last_event_type  text        NOT NULL,
    last_event_at    timestamptz NOT NULL,
    last_applied_at  timestamptz NOT NULL
);

CREATE INDEX order_status_by_cart ON {schema}.order_status (cart_id) WHERE cart_id IS NOT NULL;

-- "My orders", newest first, paged by (placed_at, order_id).
CREATE INDEX order_status_by_customer
    ON {schema}.order_status (customer_id, placed_at DESC, order_id DESC)
    WHERE customer_id IS NOT NULL;

-- The latest checkout rejection of a cart that never became an order: what
-- GET /carts/{cart_id}/order tells a storefront instead of a bare 404.
CREATE TABLE {schema}.checkout_rejections (
    cart_id      text PRIMARY KEY,
    reasons      jsonb       NOT NULL,
    rejected_at  timestamptz NOT NULL,
    event_id     uuid        NOT NULL
);
