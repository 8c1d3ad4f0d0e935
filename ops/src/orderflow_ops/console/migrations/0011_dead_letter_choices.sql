-- The dead-letter page offers every service and reason code seen: read by skipping from one
-- value to the next on these indexes (read_model_queries.dead_letter_choices), not by reading
-- every letter on each render (37 ms at 100,000 letters, 0.1 ms this way; the topic has the
-- primary key's first column already).
CREATE INDEX dead_letters_by_service ON {schema}.dead_letters (service);
CREATE INDEX dead_letters_by_code ON {schema}.dead_letters (error_code);
