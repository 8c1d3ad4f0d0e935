"""Pure rules of the order-status projection: facts per order, and the view derived from them."""
