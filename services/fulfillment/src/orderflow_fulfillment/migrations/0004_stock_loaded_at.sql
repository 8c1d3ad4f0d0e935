-- When an operator's `stock load` last set the row's figure (fulfillment's time). A count the
-- warehouse stamped before it is stale: the operator's figure stands. Movements are still
-- ordered by warehouse counts only (counted_at), never by this date.
ALTER TABLE {schema}.stock ADD COLUMN loaded_at timestamptz;
