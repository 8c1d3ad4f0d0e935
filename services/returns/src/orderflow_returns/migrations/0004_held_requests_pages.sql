-- The job pages through due held requests by (held_until, key), each page after the last
-- one's last row (handlers/held_requests.py): an index in that order starts each page where
-- the last ended instead of scanning every due row again. It covers what held_requests_due
-- did (a range on held_until).
CREATE INDEX held_requests_pages ON {schema}.held_requests (held_until, order_id, kind, request_id);
DROP INDEX {schema}.held_requests_due;
