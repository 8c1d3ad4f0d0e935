-- The expiry job lists the never-deferred expired authorisations by expiry, then the deferred
-- ones by when they were deferred (handlers/expiry.py), each from its own partial index: one
-- index led by expiry_deferred_at could not bound the never-deferred ones by expiry, and each
-- round walked every authorisation not yet expired (review, stop 44).
DROP INDEX {schema}.payments_authorised_expiry;
CREATE INDEX payments_expiry_never_deferred ON {schema}.payments (expires_at)
    WHERE status = 'authorised' AND expiry_deferred_at IS NULL;
CREATE INDEX payments_expiry_deferred ON {schema}.payments (expiry_deferred_at)
    WHERE status = 'authorised' AND expiry_deferred_at IS NOT NULL;
