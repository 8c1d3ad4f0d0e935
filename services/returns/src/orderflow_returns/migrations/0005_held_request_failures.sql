-- How many times judging a held request failed for a reason that does not pass (a bug, data
-- its judgement cannot take): after a few, it is answered request_failed and set aside
-- (handlers/held_requests.py), rather than postponed for ever with the customer never told.
ALTER TABLE {schema}.held_requests ADD COLUMN failures integer NOT NULL DEFAULT 0;
