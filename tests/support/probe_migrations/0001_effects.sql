-- The probe service's only state: one row per applied event. No unique constraint on
-- event_id on purpose: a duplicate application must be visible, not rejected.
CREATE TABLE {schema}.effects (
    id         bigserial   PRIMARY KEY,
    event_id   uuid        NOT NULL,
    cart_id    text        NOT NULL,
    sku        text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX effects_event_id ON {schema}.effects (event_id);
