"""Composition root of the fulfillment service: the one place its parts are wired together.

Its use cases arrive with issue #5; until then it subscribes to its topics and
acknowledges what it reads (every event is recorded as ignored in the metrics).
"""

from importlib import resources

from orderflow_chassis.consumer import Subscription
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.runtime import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts import topics

from orderflow_fulfillment import __doc__ as SERVICE_DESCRIPTION

SERVICE_NAME = "fulfillment"


def build_definition(settings: ServiceSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION,
        migrations=load_migrations(
            SERVICE_NAME, resources.files("orderflow_fulfillment") / "migrations"
        ),
        subscriptions=[
            Subscription(
                name="events",
                topics=[topics.ORDERS, topics.PAYMENTS, topics.WAREHOUSE_EVENTS, topics.RETURNS],
                handlers={},
            ),
        ],
    )
