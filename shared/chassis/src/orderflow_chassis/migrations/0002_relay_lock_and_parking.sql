-- The relay's lease and the outbox's parked rows.

-- One row per service schema: who leads the outbox relay, and when it last proved it.
-- Every publish round is one transaction that locks this row (FOR UPDATE NOWAIT), so only
-- the session holding it can publish and stamp rows sent; a session that dies mid-round
-- stamps nothing. Only this service's role can reach its schema, so no other service can
-- take (and sit on) this lock, unlike a database-wide advisory-lock key.
CREATE TABLE {schema}.relay_lock (
    id                   integer     PRIMARY KEY CHECK (id = 1),
    -- The leading session: its backend pid and start time (a pid alone can be reused).
    leader_pid           integer,
    leader_backend_start timestamptz,
    -- For humans: which process leads ("<service>@<host>:<pid>").
    leader_name          text,
    leader_since         timestamptz,
    -- Stamped by every round the leader completes, publishing or idle.
    heartbeat_at         timestamptz
);
INSERT INTO {schema}.relay_lock (id) VALUES (1);

-- A row Kafka refuses for good (too large, invalid topic, not authorised) is parked after a
-- few attempts, with the error, so the rows behind it keep flowing; an operator un-parks it
-- after a fix (`orderflow-<service> outbox retry`).
ALTER TABLE {schema}.outbox
    ADD COLUMN attempts   integer NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN parked_at  timestamptz;

-- The relay scans only what it may still send: unsent and not parked.
DROP INDEX {schema}.outbox_unsent;
CREATE INDEX outbox_pending ON {schema}.outbox (id) WHERE sent_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON {schema}.outbox (id) WHERE sent_at IS NULL AND parked_at IS NOT NULL;
