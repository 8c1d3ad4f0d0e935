"""The storefront's order-status API."""
