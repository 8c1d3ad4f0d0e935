-- A letter is not replayed again while a replay of it, or of another letter of the same event
-- for the same consumer, was applied or is still on its way (read_model_queries
-- ._replayed_already): found by address or by (consumer, event id) on these partial indexes.
DROP INDEX {schema}.replay_audit_applied_by_letter;
CREATE INDEX replay_audit_done_by_letter ON {schema}.replay_audit
    (dlq_topic, dlq_partition, dlq_offset) WHERE outcome IN ('sent', 'applied');
CREATE INDEX replay_audit_done_by_event ON {schema}.replay_audit
    (consumer, event_id) WHERE outcome IN ('sent', 'applied');
