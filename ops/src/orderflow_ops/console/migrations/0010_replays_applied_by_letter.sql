-- The letters a replay already got applied, found by their address: a later replay leaves them
-- out (sent again once the consumer's inbox has forgotten the event id, one would be applied
-- twice).
CREATE INDEX replay_audit_applied_by_letter
    ON {schema}.replay_audit (dlq_topic, dlq_partition, dlq_offset) WHERE outcome = 'applied';
