"""The generated resources are current and say what deploy/topics.yaml declares."""

from __future__ import annotations

import ast
import importlib
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from orderflow_chassis.settings import ServiceSettings
from orderflow_deploy.generate import Layout, render, stale
from orderflow_deploy.topic_catalog import TopicCatalogError, load_topics
from orderflow_deploy.workloads import SERVICES

REPO = Path(__file__).resolve().parents[3]
LAYOUT = Layout(REPO)
TOPICS = load_topics(LAYOUT.topics_file)


def generated(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(LAYOUT)[name]) if d]


def test_the_committed_files_are_what_the_generator_writes() -> None:
    assert stale(LAYOUT) == [], "run: uv run orderflow-deploy kubernetes generate"


def test_a_hand_edit_is_detected(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "topics.yaml").write_text(LAYOUT.topics_file.read_text())
    shutil.copytree(LAYOUT.monitoring_dir, tmp_path / "deploy" / "monitoring")
    copy = Layout(tmp_path)
    copy.output_dir.mkdir(parents=True)
    for name, content in render(LAYOUT).items():
        (copy.output_dir / name).write_text(content)
    assert stale(copy) == []
    path = copy.output_dir / "kafka-users.yaml"
    path.write_text(path.read_text().replace("Write", "Read"))
    assert stale(copy) == ["kafka-users.yaml"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_consumer_groups_are_the_services_own(service: str) -> None:
    bootstrap = importlib.import_module(f"orderflow_{service}.bootstrap")
    settings = ServiceSettings.for_service(service, database_url="postgresql://x@127.0.0.1:1/x")
    definition = bootstrap.build_definition(settings)
    actual = {s.name: tuple(s.topics) for s in definition.subscriptions}
    assert actual == dict(SERVICES[service].subscriptions)
    declared = {t.name for t in TOPICS if service in t.consumers}
    assert declared == {name for names in actual.values() for name in names}


def test_every_declared_topic_has_a_kafka_topic_with_its_settings() -> None:
    resources = {r["spec"]["topicName"]: r for r in generated("kafka-topics.yaml")}
    assert set(resources) == {t.name for t in TOPICS}
    for topic in TOPICS:
        spec = resources[topic.name]["spec"]
        assert spec["partitions"] == topic.settings.partitions
        assert spec["replicas"] == topic.settings.replication_factor
        assert spec["config"]["min.insync.replicas"] == topic.settings.min_insync_replicas


def _acls(user: dict[str, Any], operation: str, kind: str = "topic") -> set[str]:
    return {
        acl["resource"]["name"]
        for acl in user["spec"]["authorization"]["acls"]
        if acl["resource"]["type"] == kind and operation in acl["operations"]
    }


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_writes_only_what_it_produces_and_reads_only_what_it_consumes(
    service: str,
) -> None:
    users = {u["metadata"]["name"]: u for u in generated("kafka-users.yaml")}
    user = users[f"orderflow-{service}"]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    assert _acls(user, "Write") == {t.name for t in TOPICS if service in t.producers}
    assert _acls(user, "Read") == {t.name for t in TOPICS if service in t.consumers}
    assert _acls(user, "Read", "group") == {f"orderflow.{service}."}


def test_scaling_stops_at_the_partition_count() -> None:
    partitions = {t.name: t.settings.partitions for t in TOPICS}
    scaled = {r["metadata"]["name"]: r for r in generated("scaled-objects.yaml")}
    for workload in SERVICES.values():
        spec = scaled[workload.deployment]["spec"]
        read = [name for names in workload.subscriptions.values() for name in names]
        assert spec["maxReplicaCount"] == max(partitions[name] for name in read)
        groups = {t["metadata"]["consumerGroup"] for t in spec["triggers"]}
        assert groups == set(workload.consumer_groups())
        for trigger in spec["triggers"]:
            assert trigger["metadata"]["sasl"] == "scram_sha512"
            assert trigger["metadata"]["tls"] == "enable"


def test_a_bad_topic_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "topics.yaml"
    bad.write_text(
        "defaults: {partitions: 3, replication_factor: 1, min_insync_replicas: 2,\n"
        "           retention_ms: 1, cleanup_policy: delete}\n"
        "topics: [{name: orders, kind: public}]\n"
    )
    with pytest.raises(TopicCatalogError, match="min_insync_replicas 2 exceeds"):
        load_topics(bad)
    bad.write_text("defaults: {}\ntopics: []\n")
    with pytest.raises(TopicCatalogError, match="partitions"):
        load_topics(bad)


def _events_constructed(service: str) -> set[str]:
    """Contract event classes the service's code builds (to publish them): calls by name."""
    import orderflow_contracts.events as contract_events

    known = {
        name
        for name in dir(contract_events)
        if isinstance(getattr(contract_events, name), type)
        and isinstance(getattr(getattr(contract_events, name), "topic", None), str)
    }
    built: set[str] = set()
    for path in (REPO / "services" / service / "src").rglob("*.py"):
        if path.name == "simulator.py":  # plays the warehouses: not the service
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in known:
                    built.add(name)
    return built


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_a_service_may_write_every_topic_it_publishes_to(service: str) -> None:
    import orderflow_contracts.events as contract_events

    published = {getattr(contract_events, name).topic for name in _events_constructed(service)}
    assert published, f"found no event {service} publishes: the scan is broken"
    users = {u["metadata"]["name"]: u for u in generated("kafka-users.yaml")}
    writable = _acls(users[f"orderflow-{service}"], "Write")
    assert published <= writable, f"{service} publishes to {sorted(published - writable)}"


def test_the_console_gets_one_user_even_when_the_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "deploy").mkdir()
    text = LAYOUT.topics_file.read_text().replace("consumers: [cart]", "consumers: [cart, console]")
    (tmp_path / "deploy" / "topics.yaml").write_text(text)
    names = [
        d["metadata"]["name"]
        for d in yaml.safe_load_all(render(Layout(tmp_path))["kafka-users.yaml"])
        if d
    ]
    assert names.count("orderflow-console") == 1
