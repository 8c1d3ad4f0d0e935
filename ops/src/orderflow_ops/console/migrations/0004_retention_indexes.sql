-- Read-model retention deletes an expired order's checkout and refund rows by its cart and
-- order ids: without these, each batch would scan both tables.
CREATE INDEX checkouts_by_cart ON {schema}.checkouts (cart_id);
CREATE INDEX refunds_by_order ON {schema}.refunds (order_id);
