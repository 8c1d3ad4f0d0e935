"""Fulfillment's SQL repositories, built on each unit of work's connection."""

from __future__ import annotations

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_chassis.unit_of_work import RepositoryFactory

from orderflow_fulfillment.adapters.anomalies import AnomalyRepository
from orderflow_fulfillment.adapters.lock_ahead import SqlLockAhead
from orderflow_fulfillment.adapters.orders import OrderRepository
from orderflow_fulfillment.adapters.replacements import ReplacementRepository
from orderflow_fulfillment.adapters.rmas import RmaRepository
from orderflow_fulfillment.adapters.shipments import ShipmentRepository
from orderflow_fulfillment.adapters.stock import StockRepository
from orderflow_fulfillment.ports import FulfillmentRepositories


def sql_repositories(schema: str) -> RepositoryFactory[FulfillmentRepositories]:
    """Repositories on ``schema`` (interpolated into SQL: validated here, once)."""
    validate_identifier(schema)

    def on(connection: Connection) -> FulfillmentRepositories:
        return FulfillmentRepositories(
            stock=StockRepository(connection, schema),
            orders=OrderRepository(connection, schema),
            shipments=ShipmentRepository(connection, schema),
            replacements=ReplacementRepository(connection, schema),
            rmas=RmaRepository(connection, schema),
            anomalies=AnomalyRepository(connection, schema),
            locks=SqlLockAhead(connection, schema),
        )

    return on
