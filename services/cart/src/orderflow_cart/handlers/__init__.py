"""The cart's use cases, one module per use case. Each runs in a unit of work (one
transaction: the consumer's, or one a job, an HTTP route or a CLI command opens) and emits
events only through it.

* ``cart_events``: every storefront cart event, applied in each cart's order.
* ``checkout``: a cart becomes an order, or is rejected with every reason.
* ``order_cancellation``: a saga failure becomes one ``OrderCancelled``.
* ``sweeps``: jobs; overdue sequence gaps, abandoned carts.
* ``reference_data``: seeding the catalog and the rates; ``catalog_admin``: ops commands.
* ``queries``: what the read API shows.
"""
