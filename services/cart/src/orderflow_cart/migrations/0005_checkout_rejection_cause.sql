-- Which CheckoutRequested a stored rejection answers (the rejection's causation id): a
-- storefront polling GET /carts/{cart_id}/order after a second checkout must tell the first
-- checkout's rejection from an answer to its own. Null for rejections stored before.
ALTER TABLE {schema}.checkout_rejections ADD COLUMN checkout_event_id text;
