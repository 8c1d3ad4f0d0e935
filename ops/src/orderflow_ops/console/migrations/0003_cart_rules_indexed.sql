-- The invariant monitor's cart rules without a scan of every cart, every few seconds.

-- When the order a cart became was placed (NULL until its OrderPlaced is seen).
ALTER TABLE {schema}.cart_orders ADD COLUMN order_placed_at timestamptz;
UPDATE {schema}.cart_orders c SET order_placed_at = o.placed_at
FROM {schema}.orders o WHERE o.order_id = c.order_id;
CREATE INDEX cart_orders_by_order ON {schema}.cart_orders (order_id);
CREATE INDEX cart_orders_not_placed ON {schema}.cart_orders (checked_out_at)
    WHERE order_placed_at IS NULL;

-- Carts checked out into more than one order (kept as each checkout is recorded).
CREATE TABLE {schema}.carts_with_several_orders (cart_id text PRIMARY KEY);
INSERT INTO {schema}.carts_with_several_orders (cart_id)
SELECT cart_id FROM {schema}.cart_orders GROUP BY cart_id HAVING count(*) > 1;
