-- The flush that last wrote each order row (a random id per flush): the console keeps the
-- facts it wrote and folds the order's next events into them when the row still carries that
-- id (read_model_batch.py). Unlike the row's xmin, a random id is never issued again, not even
-- after a failover to a replica that lost the last transactions.
ALTER TABLE {schema}.orders ADD COLUMN written_by uuid;
