"""The one place the console makes its own Kafka clients (its dead-letter reader, its lag
probe, the replay producer), so that connection settings such as TLS or SASL are added here
once. (The consumers of the contract topics are the chassis' runtime's, like any service's.)"""

from __future__ import annotations

from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from orderflow_chassis.kafka_security import kafka_client_options

KafkaClient = TypeVar("KafkaClient", AIOKafkaConsumer, AIOKafkaProducer, AIOKafkaAdminClient)


def kafka_client(kind: type[KafkaClient], bootstrap_servers: str, **options: Any) -> KafkaClient:
    """A ``kind`` client of the cluster at ``bootstrap_servers``, with ``options`` and the
    security settings every Kafka client of the project takes (``KAFKA_SECURITY_PROTOCOL``...)."""
    return kind(bootstrap_servers=bootstrap_servers, **kafka_client_options(), **options)
