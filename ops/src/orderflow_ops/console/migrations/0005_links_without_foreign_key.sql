-- A link is written by the statement that stores its event, and only for the events that
-- statement stored (read_model_batch.py); the retention deletes links before their events.
-- The foreign key's check on every link was a quarter of the read model's write cost under
-- load, for a rule the writes already keep.
ALTER TABLE {schema}.event_links DROP CONSTRAINT IF EXISTS event_links_event_id_fkey;
