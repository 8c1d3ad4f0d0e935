-- The cart's sequence number of a stored rejection (its CheckoutRejected envelope's): the
-- latest rejection is the one numbered last, not the one stamped last. Its time comes from the
-- clock of the instance that emitted it, so after a partition moved to an instance whose clock
-- is behind, a later rejection looked older and was dropped, and a storefront waiting for the
-- answer to its checkout waited for ever. Null for rejections stored before (compared by time).
ALTER TABLE {schema}.checkout_rejections ADD COLUMN sequence bigint;
