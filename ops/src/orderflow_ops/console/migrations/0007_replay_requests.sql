-- A replay is sent a request at a time under the id its confirmation page gave it: posting that
-- confirmation again continues after the last letter it sent and never sends one twice
-- (decision 66). Rows of older replays have none.
ALTER TABLE {schema}.replay_audit ADD COLUMN request_id uuid;
CREATE UNIQUE INDEX replay_audit_by_request
    ON {schema}.replay_audit (request_id, dlq_topic, dlq_partition, dlq_offset);
-- A dead letter of a record a replay published, found by where that record landed: a replay of
-- "all matching" must not pick up the letters its own replays became.
CREATE INDEX replay_audit_by_target
    ON {schema}.replay_audit (target_topic, target_partition, target_offset);
