-- When a replacement waiting for stock was last tried. The retry job takes the least recently
-- tried first, so that every one gets its turn however many wait for a SKU that never comes.
-- A restock, count or load of one of its SKUs sets it back to NULL: tried first next round.
ALTER TABLE {schema}.replacements ADD COLUMN last_attempt_at timestamptz;
UPDATE {schema}.replacements SET last_attempt_at = updated_at WHERE status = 'awaiting_stock';

DROP INDEX {schema}.replacements_awaiting_stock;
CREATE INDEX replacements_awaiting_stock
    ON {schema}.replacements (last_attempt_at NULLS FIRST, created_at)
    WHERE status = 'awaiting_stock';
