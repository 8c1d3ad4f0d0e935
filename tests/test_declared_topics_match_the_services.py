"""deploy/topics.yaml lists exactly the topics the contracts and the services use, dead letters
included, and says truly who consumes each (the Kubernetes ACLs are generated from it); the
topics keyed by order id split alike."""

from __future__ import annotations

from collections import defaultdict

from orderflow_cart.bootstrap import build_definition as cart_definition
from orderflow_chassis.kafka_admin import topics_a_service_uses
from orderflow_chassis.service_definition import ServiceDefinition
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.topic_catalog import load_topic_catalog
from orderflow_contracts.topics import ALL_TOPICS, TOPIC_SPECS, dead_letter_topic
from orderflow_fulfillment.bootstrap import build_definition as fulfillment_definition
from orderflow_fulfillment.settings import FulfillmentSettings
from orderflow_payment.bootstrap import build_definition as payment_definition
from orderflow_returns.bootstrap import build_definition as returns_definition

CATALOG = load_topic_catalog()


def definitions() -> list[ServiceDefinition]:
    def settings(name: str) -> ServiceSettings:
        return ServiceSettings.for_service(name, database_url="postgresql://unused/db")

    return [
        cart_definition(settings("cart")),
        payment_definition(settings("payment")),
        fulfillment_definition(
            settings("fulfillment"), fulfillment=FulfillmentSettings(seed_file="")
        ),
        returns_definition(settings("returns")),
    ]


def subscribed_by_service() -> dict[str, set[str]]:
    return {
        definition.name: {
            topic for subscription in definition.subscriptions for topic in subscription.topics
        }
        for definition in definitions()
    }


def test_the_file_declares_exactly_what_the_contracts_and_services_use() -> None:
    used: set[str] = set()
    for subscribed in subscribed_by_service().values():
        used |= set(topics_a_service_uses("", subscribed))

    assert set(CATALOG.names) == used
    assert {t.name for t in CATALOG if t.kind == "public"} == set(ALL_TOPICS)
    assert {t.name for t in CATALOG if t.kind == "dead-letter"} == {
        dead_letter_topic(topic) for topic in ALL_TOPICS
    }


def test_each_service_is_declared_a_consumer_of_what_it_subscribes_to() -> None:
    declared: dict[str, set[str]] = defaultdict(set)
    for topic in CATALOG:
        for consumer in topic.consumers:
            declared[consumer].add(topic.name)

    for service, subscribed in subscribed_by_service().items():
        assert declared[service] == subscribed, service


def test_a_dead_letter_topic_is_written_by_the_consumers_of_its_topic() -> None:
    for topic in CATALOG:
        if topic.kind == "dead-letter":
            origin = CATALOG.declared[topic.name.removesuffix(".dlq")]
            services = set(subscribed_by_service())
            assert set(topic.producers) == set(origin.consumers) & services, topic.name


def test_the_order_keyed_topics_share_one_partition_count() -> None:
    # An instance reads partition n of each topic of its group, so an order's events meet in
    # one instance only while the topics keyed by order id split alike (decision 75).
    order_keyed = [name for name, spec in TOPIC_SPECS.items() if spec.key == "order_id"]
    assert len(order_keyed) == 5
    counts = {name: CATALOG.spec_for(name).partitions for name in order_keyed}
    assert len(set(counts.values())) == 1, counts
