"""The returns repositories on one connection: what each unit of work's ``repos`` holds."""

from __future__ import annotations

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_chassis.unit_of_work import RepositoryFactory

from orderflow_returns.adapters.held_requests import SqlHeldRequests
from orderflow_returns.adapters.orders import SqlOrders
from orderflow_returns.adapters.refunds import SqlRefunds
from orderflow_returns.adapters.return_requests import SqlReturnRequests
from orderflow_returns.adapters.rma_reports import SqlRmaReports
from orderflow_returns.adapters.rmas import SqlRmas
from orderflow_returns.adapters.warranty_claims import SqlWarrantyClaims
from orderflow_returns.ports import ReturnsRepositories


def sql_repositories(schema: str) -> RepositoryFactory[ReturnsRepositories]:
    """Repositories on the ``schema`` tables, bound to the unit of work's connection."""
    validate_identifier(schema)  # a bad schema fails at start, not at the first event

    def on(connection: Connection) -> ReturnsRepositories:
        return ReturnsRepositories(
            orders=SqlOrders(connection, schema),
            return_requests=SqlReturnRequests(connection, schema),
            held_requests=SqlHeldRequests(connection, schema),
            rmas=SqlRmas(connection, schema),
            refunds=SqlRefunds(connection, schema),
            warranty_claims=SqlWarrantyClaims(connection, schema),
            reports=SqlRmaReports(connection, schema),
        )

    return on
