"""The payment repositories on one connection: what every unit of work of the service gets."""

from __future__ import annotations

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier
from orderflow_chassis.unit_of_work import RepositoryFactory

from orderflow_payment.adapters.ledger_store import SqlLedger
from orderflow_payment.adapters.order_facts import SqlOrderFacts
from orderflow_payment.adapters.payment_views import SqlPaymentViews
from orderflow_payment.adapters.payments import SqlPayments
from orderflow_payment.adapters.reconciliation_store import SqlReconciliation
from orderflow_payment.adapters.refunds import SqlRefunds
from orderflow_payment.adapters.sandbox_record import SandboxRecord
from orderflow_payment.ports import PaymentRepositories


def sql_repositories(schema: str) -> RepositoryFactory[PaymentRepositories]:
    """Repositories on the tables of ``schema``, bound to each unit of work's connection."""
    schema = validate_identifier(schema)

    def on(connection: Connection) -> PaymentRepositories:
        return PaymentRepositories(
            payments=SqlPayments(connection, schema),
            order_facts=SqlOrderFacts(connection, schema),
            refunds=SqlRefunds(connection, schema),
            ledger=SqlLedger(connection, schema),
            views=SqlPaymentViews(connection, schema),
            reconciliation=SqlReconciliation(connection, schema),
            # The sandbox's record is the only provider record there is: a real provider's
            # report would be read here instead, when one is configured.
            provider_record=SandboxRecord(connection, schema),
        )

    return on
