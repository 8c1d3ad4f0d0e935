"""Fulfillment service: stock per warehouse, reservations, warehouse requests and shipments."""
