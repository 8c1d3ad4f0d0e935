"""Planning the declared topics against a broker's: what to create, capping, and drift."""

import pytest
from orderflow_chassis.topic_catalog import parse_topic_catalog
from orderflow_chassis.topic_provisioning import LiveTopic, TopicPlanError, plan_topics

CATALOG = parse_topic_catalog(
    """
defaults:
  partitions: 12
  replication_factor: 3
  min_insync_replicas: 2
  retention_ms: 604800000
  cleanup_policy: delete
topics:
  - {name: orders, kind: public}
  - {name: orders.dlq, kind: dead-letter, retention_ms: 2419200000}
"""
)
DECLARED = list(CATALOG)
MATCHING_CONFIGS = {
    "min.insync.replicas": "2",
    "retention.ms": "604800000",
    "cleanup.policy": "delete",
}


def live(
    name: str, partitions: int = 12, replication: int = 3, configs: dict[str, str] | None = None
) -> LiveTopic:
    return LiveTopic(name, partitions, replication, {**MATCHING_CONFIGS, **(configs or {})})


def test_missing_topics_are_created_with_the_declared_settings_under_the_prefix() -> None:
    plan = plan_topics(DECLARED, {}, prefix="p.", broker_count=3, cap_to_brokers=False)

    created = {topic.name: topic for topic in plan.to_create}
    assert sorted(created) == ["p.orders", "p.orders.dlq"]
    assert (created["p.orders"].partitions, created["p.orders"].replication_factor) == (12, 3)
    assert created["p.orders.dlq"].configs["retention.ms"] == "2419200000"
    assert plan.drift == []
    assert plan.warnings == []


def test_a_one_broker_development_cluster_gets_replication_capped_with_a_warning() -> None:
    plan = plan_topics(DECLARED, {}, broker_count=1, cap_to_brokers=True, partitions_override=2)

    assert {(t.partitions, t.replication_factor) for t in plan.to_create} == {(2, 1)}
    assert {t.configs["min.insync.replicas"] for t in plan.to_create} == {"1"}
    assert len(plan.warnings) == 1
    assert "capped at the broker count (1) for 2 topic(s)" in plan.warnings[0]


def test_without_capping_too_few_brokers_is_refused_naming_each_topic() -> None:
    with pytest.raises(TopicPlanError) as refused:
        plan_topics(DECLARED, {}, broker_count=2, cap_to_brokers=False)

    assert refused.value.problems == [
        "orders: replication_factor 3 needs 3 brokers, the cluster has 2",
        "orders.dlq: replication_factor 3 needs 3 brokers, the cluster has 2",
    ]


def test_matching_topics_are_up_to_date_and_nothing_is_created() -> None:
    topics = {
        "orders": live("orders"),
        "orders.dlq": live("orders.dlq", configs={"retention.ms": "2419200000"}),
    }

    plan = plan_topics(DECLARED, topics, broker_count=3, cap_to_brokers=False)

    assert plan.to_create == []
    assert plan.drift == []
    assert plan.up_to_date == ["orders", "orders.dlq"]


def test_fewer_partitions_other_replication_and_other_configs_are_drift() -> None:
    topics = {
        "orders": live(
            "orders", partitions=3, replication=2, configs={"cleanup.policy": "compact"}
        ),
        "orders.dlq": live("orders.dlq", partitions=24, configs={"retention.ms": "2419200000"}),
    }

    plan = plan_topics(DECLARED, topics, broker_count=3, cap_to_brokers=False)

    assert [(d.topic, d.setting, d.actual, d.declared) for d in plan.drift] == [
        ("orders", "partitions", "3", "12"),
        ("orders", "replication_factor", "2", "3"),
        ("orders", "cleanup.policy", "compact", "delete"),
        ("orders.dlq", "partitions", "24", "12"),
    ]
    assert plan.to_create == []
    assert plan.up_to_date == []
    fewer = plan.drift[0].describe()
    assert fewer.startswith("orders: partitions is 3 on the broker, declared 12 (not changed")


def test_drift_is_judged_against_the_capped_replication_on_a_development_broker() -> None:
    topics = {
        "orders": live("orders", partitions=2, replication=1, configs={"min.insync.replicas": "1"}),
    }

    plan = plan_topics(
        DECLARED[:1], topics, broker_count=1, cap_to_brokers=True, partitions_override=2
    )

    assert plan.drift == []
    assert plan.up_to_date == ["orders"]
