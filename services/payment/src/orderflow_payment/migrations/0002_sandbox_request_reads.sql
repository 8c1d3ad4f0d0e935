-- The SANDBOX provider reads what a request needs in one round trip (it took up to four): the
-- request's lock, then, each in a snapshot taken after the locks, the attempts so far, the
-- operation an earlier attempt did, and for a child operation its parent (row-locked, so that
-- a capture and a void of one authorisation queue) with what already closed or refunded it.
-- A VOLATILE PL/pgSQL function: each of its statements sees what committed before it began,
-- so the reads after the lock see every request that held it before.
CREATE FUNCTION {schema}.sandbox_request_reads(request_key text, parent text)
RETURNS TABLE (
    attempts            bigint,
    reference           text,
    outcome             text,
    decline_code        text,
    parent_reference    text,
    parent_operation    text,
    parent_outcome      text,
    parent_behaviour    text,
    parent_amount_minor bigint,
    parent_currency     text,
    parent_method       text,
    parent_closed_by    text,
    parent_refunded     bigint
)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    found_parent {schema}.sandbox_operations%ROWTYPE;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('orderflow.sandbox'), hashtext(request_key));
    IF parent IS NOT NULL THEN
        SELECT * INTO found_parent FROM {schema}.sandbox_operations AS o
        WHERE o.reference = parent FOR UPDATE;
    END IF;
    RETURN QUERY
    SELECT
        (SELECT count(*) FROM {schema}.sandbox_requests AS r
         WHERE r.idempotency_key = request_key),
        earlier.reference, earlier.outcome, earlier.decline_code,
        found_parent.reference, found_parent.operation, found_parent.outcome,
        found_parent.behaviour, found_parent.amount_minor, found_parent.currency::text,
        found_parent.method,
        (SELECT c.operation FROM {schema}.sandbox_operations AS c
         WHERE c.parent_reference = found_parent.reference
           AND c.operation IN ('capture', 'void') AND c.outcome = 'approved'
         LIMIT 1),
        (SELECT coalesce(sum(c.amount_minor), 0)::bigint FROM {schema}.sandbox_operations AS c
         WHERE c.parent_reference = found_parent.reference
           AND c.operation = 'refund' AND c.outcome = 'approved')
    FROM (VALUES (1)) AS one
    LEFT JOIN {schema}.sandbox_operations AS earlier ON earlier.idempotency_key = request_key;
END
$$;
