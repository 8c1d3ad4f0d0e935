"""Composition root of the cart service: the one place its parts are wired together.

Its use cases arrive with issue #3; until then it subscribes to its topics and
acknowledges what it reads (every event is recorded as ignored in the metrics).
"""

from importlib import resources

from orderflow_chassis.consumer import Subscription
from orderflow_chassis.migrations import load_migrations
from orderflow_chassis.runtime import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_contracts import topics

from orderflow_cart import __doc__ as SERVICE_DESCRIPTION

SERVICE_NAME = "cart"


def build_definition(settings: ServiceSettings) -> ServiceDefinition:
    return ServiceDefinition(
        name=SERVICE_NAME,
        description=SERVICE_DESCRIPTION,
        migrations=load_migrations(SERVICE_NAME, resources.files("orderflow_cart") / "migrations"),
        subscriptions=[
            Subscription(name="events", topics=[topics.STOREFRONT_CARTS], handlers={}),
        ],
    )
