-- The payment service's tables. Amounts are integer minor units beside an ISO 4217 code.

-- One payment per order, ever: the UNIQUE order_id is what makes a second authorisation of
-- the same order impossible, whichever instance or message tries it.
CREATE TABLE {schema}.payments (
    payment_id              uuid        PRIMARY KEY,
    order_id                uuid        NOT NULL UNIQUE,
    status                  text        NOT NULL CHECK (status IN (
                                'authorised', 'declined', 'captured', 'partially_refunded',
                                'refunded', 'voided')),
    method                  text        NOT NULL CHECK (method IN ('visa', 'mastercard', 'paypal')),
    provider                text        NOT NULL,
    token_masked            text        NOT NULL,
    currency                char(3)     NOT NULL,
    amount_minor            bigint      NOT NULL CHECK (amount_minor > 0),
    captured_minor          bigint      NOT NULL DEFAULT 0,
    refunded_minor          bigint      NOT NULL DEFAULT 0,
    authorisation_reference text,
    capture_reference       text,
    void_reference          text,
    decline_code            text,
    void_reason             text,
    expires_at              timestamptz,
    correlation_id          text        NOT NULL,
    caused_by               uuid        NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (captured_minor IN (0, amount_minor)),
    CHECK (refunded_minor BETWEEN 0 AND captured_minor)
);
CREATE INDEX payments_authorised_expiry ON {schema}.payments (expires_at)
    WHERE status = 'authorised';

-- Every refund asked for, issued or failed. refund_id is the requester's idempotency key.
CREATE TABLE {schema}.refunds (
    refund_id          uuid        PRIMARY KEY,
    order_id           uuid        NOT NULL,
    payment_id         uuid        REFERENCES {schema}.payments,
    rma_id             uuid,
    status             text        NOT NULL CHECK (status IN ('issued', 'failed')),
    currency           char(3)     NOT NULL,
    amount_minor       bigint      NOT NULL CHECK (amount_minor >= 0),
    failure_code       text,
    failure_message    text,
    provider_reference text,
    caused_by          uuid        NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'issued') = (failure_code IS NULL))
);
CREATE INDEX refunds_order ON {schema}.refunds (order_id);

-- What payment learned about an order from others, whichever arrives first: fulfillment's
-- stock outcome and the cart's cancellation. Capture needs "authorised" AND "reserved".
CREATE TABLE {schema}.order_facts (
    order_id         uuid        PRIMARY KEY,
    stock_status     text        CHECK (stock_status IN ('reserved', 'unavailable', 'released')),
    cancelled_reason text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The ledger: balanced double entry, append-only.
CREATE TABLE {schema}.ledger_transactions (
    transaction_id  uuid        PRIMARY KEY,
    idempotency_key text        NOT NULL UNIQUE,
    kind            text        NOT NULL CHECK (kind IN ('authorisation', 'capture', 'void', 'refund')),
    order_id        uuid        NOT NULL,
    payment_id      uuid        NOT NULL REFERENCES {schema}.payments,
    currency        char(3)     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
-- Nothing is ever captured twice: at most one capture transaction per payment.
CREATE UNIQUE INDEX ledger_one_capture_per_payment ON {schema}.ledger_transactions (payment_id)
    WHERE kind = 'capture';
CREATE INDEX ledger_transactions_order ON {schema}.ledger_transactions (order_id);

CREATE TABLE {schema}.ledger_entries (
    entry_id       bigserial   PRIMARY KEY,
    transaction_id uuid        NOT NULL REFERENCES {schema}.ledger_transactions,
    order_id       uuid        NOT NULL,
    account        text        NOT NULL CHECK (account IN ('authorisation_holds',
                       'customer_authorisations', 'provider_receivable', 'sales', 'refunds')),
    currency       char(3)     NOT NULL,
    -- debit positive, credit negative
    amount_minor   bigint      NOT NULL CHECK (amount_minor <> 0),
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_order ON {schema}.ledger_entries (order_id);
CREATE INDEX ledger_entries_transaction ON {schema}.ledger_entries (transaction_id);

-- Each transaction sums to zero in its single currency, checked at commit (deferred, so the
-- rows of one transaction can be inserted one by one).
CREATE FUNCTION {schema}.ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
    currencies integer;
BEGIN
    SELECT coalesce(sum(amount_minor), 0), count(DISTINCT currency)
      INTO total, currencies
      FROM {schema}.ledger_entries
     WHERE transaction_id = NEW.transaction_id;
    IF total <> 0 OR currencies <> 1 THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced (sum %, % currencies)',
            NEW.transaction_id, total, currencies
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER ledger_entries_balanced
    AFTER INSERT ON {schema}.ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION {schema}.ledger_check_balanced();

-- Append-only: a correction is a new transaction, never an edit.
CREATE FUNCTION {schema}.ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER ledger_entries_append_only
    BEFORE UPDATE OR DELETE ON {schema}.ledger_entries
    FOR EACH ROW EXECUTE FUNCTION {schema}.ledger_refuse_change();
CREATE TRIGGER ledger_transactions_append_only
    BEFORE UPDATE OR DELETE ON {schema}.ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION {schema}.ledger_refuse_change();

-- ---------------------------------------------------------------------------------------------
-- The SANDBOX provider's own side. In production these rows live at the provider; the sandbox
-- keeps them here (written on its own connections, committed independently of the payment
-- service's transactions) so reconciliation can compare against an independent record.

-- Every request the sandbox received, including the ones it failed on purpose.
CREATE TABLE {schema}.sandbox_requests (
    request_id      bigserial   PRIMARY KEY,
    idempotency_key text        NOT NULL,
    operation       text        NOT NULL CHECK (operation IN ('authorise', 'capture', 'void', 'refund')),
    attempt         integer     NOT NULL,
    response        text        NOT NULL CHECK (response IN (
                        'approved', 'declined', 'replayed', 'timeout', 'unavailable', 'rejected')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_requests_key ON {schema}.sandbox_requests (idempotency_key);

-- The operations it performed: one per idempotency key, whatever the retries.
CREATE TABLE {schema}.sandbox_operations (
    reference          text        PRIMARY KEY,
    idempotency_key    text        NOT NULL UNIQUE,
    operation          text        NOT NULL CHECK (operation IN ('authorise', 'capture', 'void', 'refund')),
    parent_reference   text        REFERENCES {schema}.sandbox_operations,
    merchant_reference text        NOT NULL,
    method             text        NOT NULL,
    behaviour          text        NOT NULL,
    token_masked       text,
    currency           char(3)     NOT NULL,
    amount_minor       bigint      NOT NULL CHECK (amount_minor > 0),
    outcome            text        NOT NULL CHECK (outcome IN ('approved', 'declined')),
    decline_code       text,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sandbox_operations_merchant_reference
    ON {schema}.sandbox_operations (merchant_reference);
CREATE INDEX sandbox_operations_parent ON {schema}.sandbox_operations (parent_reference);
