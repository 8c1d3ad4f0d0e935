-- The W3C trace context (a `traceparent`) of the work that wrote the row, when it was traced
-- or arrived with one. The relay publishes it as the record's `traceparent` header, so one
-- order's events form one trace across services. NULL: not traced.
ALTER TABLE {schema}.outbox ADD COLUMN traceparent text;
