-- Running totals the overview reads instead of counting 100,000s of rows on every render:
-- kept by the projection in the same transaction as the rows they count.

CREATE TABLE {schema}.stage_totals (
    stage  text   PRIMARY KEY,
    events bigint NOT NULL
);
INSERT INTO {schema}.stage_totals (stage, events)
SELECT stage, sum(events) FROM {schema}.stage_minutes GROUP BY stage;

-- Orders per state, counting only orders whose OrderPlaced was seen (as `check` judges them).
CREATE TABLE {schema}.order_state_counts (
    state  text   PRIMARY KEY,
    orders bigint NOT NULL
);
INSERT INTO {schema}.order_state_counts (state, orders)
SELECT state, count(*) FROM {schema}.orders WHERE placed_at IS NOT NULL GROUP BY state;
