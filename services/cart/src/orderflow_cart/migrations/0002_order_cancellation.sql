-- The cart service owns the order's lifecycle announcements: it cancels an order when the
-- saga fails (payment declined, stock unavailable, reservation or authorisation expired).
ALTER TABLE {schema}.orders
    ADD COLUMN cancelled_at  timestamptz,
    ADD COLUMN cancel_reason text;
