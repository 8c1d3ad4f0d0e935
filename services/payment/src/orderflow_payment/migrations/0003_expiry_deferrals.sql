-- An expired authorisation whose void was deferred (the provider refusing or away) is tried
-- again after the ones never tried, least recently deferred first: the oldest ones, failing
-- every round, filled each round's 500 and held every newer expiry (and the customers' money)
-- back for ever (handlers/expiry.py).
ALTER TABLE {schema}.payments ADD COLUMN expiry_deferred_at timestamptz;
DROP INDEX {schema}.payments_authorised_expiry;
CREATE INDEX payments_authorised_expiry ON {schema}.payments
    (expiry_deferred_at NULLS FIRST, expires_at) WHERE status = 'authorised';
