-- A held request whose wait ended is judged only once the service has read every delivery
-- (and order) published by then: `read_marks` are the end offsets of the orders and
-- fulfillment topics when its wait ended, taken once (orderflow_chassis.read_marks); NULL
-- until then. A consumer behind by more than the wait no longer turns a delivery not read
-- yet into a refusal.
ALTER TABLE {schema}.held_requests ADD COLUMN read_marks jsonb;
