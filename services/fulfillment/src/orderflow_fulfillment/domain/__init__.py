"""Fulfillment's pure rules: where an order ships from, what a count or a parcel does to stock,
and which shipment transitions are allowed. No I/O here; tested with plain values."""
