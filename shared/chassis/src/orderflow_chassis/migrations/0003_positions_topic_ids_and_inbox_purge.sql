-- Consumer positions belong to one life of a topic: a topic deleted and created again under
-- the same name restarts at offset 0. The Kafka topic id (KIP-516) says which life a stored
-- offset is from; NULL when it could not be looked up (the position is then trusted as is).
ALTER TABLE {schema}.consumer_positions ADD COLUMN topic_id uuid;

-- The inbox is purged by age once its rows are older than any re-publish or replay can be.
CREATE INDEX inbox_processed_at ON {schema}.inbox (processed_at);
