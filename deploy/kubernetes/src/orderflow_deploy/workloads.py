"""The processes deployed on Kubernetes and the consumer groups they read with.

A service's consumer groups are ``orderflow.<service>.<subscription>`` (the chassis names them
so); the subscriptions below mirror each service's ``build_definition``, which
deploy/kubernetes/tests/test_generator.py checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

CLUSTER_NAME = "orderflow-kafka"
"""The Strimzi Kafka cluster: also the prefix of the secrets Strimzi creates for it."""

BOOTSTRAP_SERVERS = f"{CLUSTER_NAME}-kafka-bootstrap:9093"
"""The cluster's SASL_SSL listener (see base/kafka/kafka.yaml)."""

CLUSTER_CA_SECRET = f"{CLUSTER_NAME}-cluster-ca-cert"


@dataclass(frozen=True)
class Workload:
    name: str
    subscriptions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Subscription name -> the topics that consumer group reads."""

    @property
    def kafka_user(self) -> str:
        """KafkaUser name = SCRAM user name = the Secret holding its password."""
        return f"orderflow-{self.name}"

    @property
    def deployment(self) -> str:
        return f"orderflow-{self.name}"

    @property
    def group_prefix(self) -> str:
        return f"orderflow.{self.name}."

    def consumer_groups(self) -> dict[str, tuple[str, ...]]:
        return {f"{self.group_prefix}{name}": topics for name, topics in self.subscriptions.items()}


SERVICES: Mapping[str, Workload] = MappingProxyType(
    {
        workload.name: workload
        for workload in (
            Workload(
                "cart",
                {
                    "events": ("storefront.carts",),
                    "order-outcomes": ("payments", "fulfillment"),
                    "order-status": ("orders", "carts", "payments", "fulfillment", "returns"),
                },
            ),
            Workload("payment", {"events": ("orders", "fulfillment", "returns")}),
            Workload(
                "fulfillment", {"events": ("orders", "payments", "warehouse.events", "returns")}
            ),
            Workload(
                "returns",
                {
                    "events": (
                        "storefront.returns",
                        "orders",
                        "fulfillment",
                        "payments",
                        "warehouse.events",
                    )
                },
            ),
        )
    }
)
"""The four services: scaled on their consumer-group lag."""

CONSOLE = Workload("console")
"""The ops console: one replica, never scaled on lag; it reads every topic."""
