-- Return request and warranty claim ids are the storefront's, unique within one order only:
-- linked bare, an order's timeline took in every order whose storefront used the same id
-- ("ret-1"). They are linked as <order_id>:<id> from now on (timeline.PER_ORDER_FIELDS, the
-- order id in lower case); the links already stored are rewritten so (the top-level fields
-- of the events that name one). A stored envelope PostgreSQL's jsonb cannot read (a NUL or a
-- lone surrogate in a field the contract ignores) is left as it is, not a failed start.
CREATE FUNCTION pg_temp.orderflow_jsonb_or_null(document text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN document::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;

CREATE TEMPORARY TABLE per_order_links ON COMMIT DROP AS
SELECT e.event_id, f.field, d.data ->> f.field AS id,
       CASE WHEN jsonb_typeof(d.data -> 'order_id') = 'string'
            THEN lower(d.data ->> 'order_id') END AS order_id
FROM {schema}.events e
CROSS JOIN LATERAL (
    SELECT pg_temp.orderflow_jsonb_or_null(e.envelope) -> 'data' AS data
) d
CROSS JOIN (VALUES ('return_request_id'), ('claim_id')) AS f (field)
WHERE (e.envelope LIKE '%"return\_request\_id"%' OR e.envelope LIKE '%"claim\_id"%')
  AND jsonb_typeof(d.data -> f.field) = 'string';

DELETE FROM {schema}.event_links l
USING per_order_links p
WHERE l.event_id = p.event_id AND l.linked_id = p.id
  AND lower(l.linked_id) IS DISTINCT FROM p.order_id;

INSERT INTO {schema}.event_links (linked_id, event_id)
SELECT p.order_id || ':' || p.id, p.event_id
FROM per_order_links p
WHERE p.order_id IS NOT NULL
ON CONFLICT DO NOTHING;
