"""The cart's repositories on PostgreSQL, and the seed files of its reference data."""

from __future__ import annotations

from orderflow_chassis.database import Connection
from orderflow_chassis.unit_of_work import RepositoryFactory

from orderflow_cart.adapters.carts import CartRepository
from orderflow_cart.adapters.catalog import CatalogRepository, RatesRepository
from orderflow_cart.adapters.orders import OrderRepository
from orderflow_cart.order_status.adapters.statuses import OrderStatusRepository
from orderflow_cart.ports import CartRepositories


def sql_repositories(schema: str) -> RepositoryFactory[CartRepositories]:
    """The cart's repositories on one connection of the ``schema`` owner."""

    def on(connection: Connection) -> CartRepositories:
        return CartRepositories(
            carts=CartRepository(connection, schema),
            catalog=CatalogRepository(connection, schema),
            rates=RatesRepository(connection, schema),
            orders=OrderRepository(connection, schema),
            order_status=OrderStatusRepository(connection, schema),
        )

    return on
