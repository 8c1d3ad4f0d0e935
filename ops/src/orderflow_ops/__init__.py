"""Tools for the people who run Orderflow: what happened to an order, is the system sound,
and a storefront that shops so there is something to watch."""
