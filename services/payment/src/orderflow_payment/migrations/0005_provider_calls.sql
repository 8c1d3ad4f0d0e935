-- Every provider call, written down and committed on a session of its own before it is made
-- (adapters/provider_journal.py): what a crash between the call and the commit of the
-- transaction that records its answer would otherwise forget. A key asked again for another
-- request (a refund_id reused for another order) is refused before it reaches the provider,
-- which would answer it with the first request's answer; a cancellation knows a capture may
-- have been made, an order that died knows an authorisation may hold money (decision 100).
CREATE TABLE {schema}.provider_calls (
    idempotency_key  text        PRIMARY KEY,
    operation        text        NOT NULL,
    order_id         uuid        NOT NULL,
    parent_reference text,
    amount           numeric     NOT NULL,
    currency         text        NOT NULL,
    first_called_at  timestamptz NOT NULL DEFAULT now()
);
