"""Order status for storefronts: one read model of everything that happened to an order.

A projection owned by the cart service (the owner of the order). It reads ``orders``, ``carts``,
``payments``, ``fulfillment`` and ``returns`` into facts kept per order (``domain.facts``),
derives the status a storefront shows from them (``domain.view``), and serves it over HTTP with
a live feed (``entrypoints.http``).
"""
