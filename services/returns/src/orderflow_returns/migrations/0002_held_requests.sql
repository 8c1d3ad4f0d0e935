-- Customers' requests that found no delivery (or no order) yet: events reach the service in
-- any order across topics, so a request may come before the ShipmentDelivered it needs. It
-- waits here until that delivery arrives or `held_until` passes (RETURNS_DELIVERY_WAIT_S),
-- then it is judged on what is known (handlers/held_requests.py). `envelope` is the request's
-- envelope as it came (screened and validated), judged again as it was.
CREATE TABLE {schema}.held_requests (
    order_id    uuid        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('return', 'warranty_claim')),
    request_id  text        NOT NULL,
    envelope    text        NOT NULL,
    held_until  timestamptz NOT NULL,
    PRIMARY KEY (order_id, kind, request_id)
);

CREATE INDEX held_requests_due ON {schema}.held_requests (held_until);
