"""Strimzi KafkaTopic and KafkaUser resources from the declared topics.

ACLs follow the declaration: a principal may Write only the topics that list it as a producer
and Read only those that list it as a consumer, with its own consumer groups (prefix
``orderflow.<service>.``). Every service may Describe every declared topic: at start it checks
that the topics it uses exist, which is metadata only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from orderflow_deploy.topic_catalog import Topic
from orderflow_deploy.workloads import CLUSTER_NAME, CONSOLE, SERVICES, Workload

Resource = dict[str, Any]
_CLUSTER_LABEL = {"strimzi.io/cluster": CLUSTER_NAME}


def resource_name(topic: str) -> str:
    """A Kubernetes name for a topic: dots become dashes (`warehouse.events.dlq` ->
    `warehouse-events-dlq`); spec.topicName keeps the real name."""
    return topic.replace(".", "-").replace("_", "-").lower()


def kafka_topic(topic: Topic) -> Resource:
    settings = topic.settings
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaTopic",
        "metadata": {
            "name": resource_name(topic.name),
            "labels": {**_CLUSTER_LABEL, "orderflow.io/topic-kind": topic.kind},
        },
        "spec": {
            "topicName": topic.name,
            "partitions": settings.partitions,
            "replicas": settings.replication_factor,
            "config": {
                "min.insync.replicas": settings.min_insync_replicas,
                "retention.ms": settings.retention_ms,
                "cleanup.policy": settings.cleanup_policy,
            },
        },
    }


def principals(topics: Iterable[Topic]) -> list[str]:
    """Everyone the declaration names, services first, then external actors, sorted."""
    named = {name for topic in topics for name in (*topic.producers, *topic.consumers)}
    named.discard(CONSOLE.name)  # the console's user is made by console_user: it reads all
    services = [name for name in SERVICES if name in named]
    return services + sorted(named - set(services))


def _acl(resource_type: str, name: str, operations: list[str], pattern: str) -> Resource:
    return {
        "resource": {"type": resource_type, "name": name, "patternType": pattern},
        "operations": operations,
    }


def kafka_user(principal: str, topics: tuple[Topic, ...]) -> Resource:
    workload = SERVICES.get(principal) or Workload(principal)
    acls: list[Resource] = []
    for topic in topics:
        operations = []
        if principal in topic.consumers:
            operations.append("Read")
        if principal in topic.producers:
            operations.append("Write")
        if principal in SERVICES or operations:
            operations.append("Describe")
        if operations:
            acls.append(_acl("topic", topic.name, operations, "literal"))
    if any(principal in topic.consumers for topic in topics):
        acls.append(_acl("group", workload.group_prefix, ["Read"], "prefix"))
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": workload.kafka_user, "labels": dict(_CLUSTER_LABEL)},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }


def console_user(topics: tuple[Topic, ...]) -> Resource:
    """The console reads every topic with its own group, and writes back only what it replays
    from a dead-letter topic (the original topic), like `orderflow-dlq replay`."""
    replay_targets = {
        topic.name.removesuffix(".dlq") for topic in topics if topic.kind == "dead-letter"
    }
    acls = [
        _acl(
            "topic",
            topic.name,
            ["Read", "Describe", "Write"] if topic.name in replay_targets else ["Read", "Describe"],
            "literal",
        )
        for topic in topics
    ]
    acls.append(_acl("group", CONSOLE.group_prefix, ["Read"], "prefix"))
    acls.append(_acl("cluster", "kafka-cluster", ["Describe"], "literal"))
    acls.append(_acl("group", "*", ["Describe"], "literal"))
    return {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": CONSOLE.kafka_user, "labels": dict(_CLUSTER_LABEL)},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {"type": "simple", "acls": acls},
        },
    }
