"""Declared topics against a broker: what is missing, what drifted, and creating the missing.

Creation is the only change ever made. Drift (fewer partitions than declared, another
replication factor, other configs) is reported, never "fixed": adding partitions moves keys to
other partitions, and changing retention or replication is an operator's decision.

On a broker with fewer brokers than a topic's replication factor (a one-broker development
broker), the replication factor and ``min.insync.replicas`` are capped at the broker count, with
a warning — only when the caller allows it, which the production profile never does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import for_code

from orderflow_chassis.topic_catalog import DeclaredTopic

# Kafka's error codes for a topic that does not exist, and one that already does.
_UNKNOWN_TOPIC = 3
_TOPIC_ALREADY_EXISTS = 36


@dataclass(frozen=True)
class LiveTopic:
    """A topic as the broker has it."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicToCreate:
    name: str
    """The real name (with the run's prefix)."""
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class Drift:
    """A difference between a declared topic and the broker's that apply does not change."""

    topic: str
    setting: str
    declared: str
    actual: str
    advice: str

    def describe(self) -> str:
        return (
            f"{self.topic}: {self.setting} is {self.actual} on the broker, declared "
            f"{self.declared} ({self.advice})"
        )


@dataclass(frozen=True)
class TopicPlan:
    to_create: list[TopicToCreate]
    drift: list[Drift]
    up_to_date: list[str]
    warnings: list[str]


class TopicPlanError(ValueError):
    """The declared topics cannot be created on this broker as they are (and may not be
    adapted to it); ``problems`` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def plan_topics(
    declared: Sequence[DeclaredTopic],
    live: Mapping[str, LiveTopic],
    *,
    prefix: str = "",
    broker_count: int,
    cap_to_brokers: bool,
    partitions_override: int | None = None,
) -> TopicPlan:
    """Compare ``declared`` (contract names) with ``live`` (real, prefixed names).

    ``partitions_override`` replaces every declared partition count (development and test
    runs keep them small); ``cap_to_brokers`` allows capping replication at the broker count.
    """
    wanted = [
        _effective(topic, broker_count, cap_to_brokers, partitions_override) for topic in declared
    ]
    too_big = [
        f"{prefix}{topic.name}: replication_factor {topic.replication_factor} needs "
        f"{topic.replication_factor} brokers, the cluster has {broker_count}"
        for topic, _ in wanted
        if topic.replication_factor > broker_count and not cap_to_brokers
    ]
    if too_big:
        raise TopicPlanError(too_big)

    to_create: list[TopicToCreate] = []
    drift: list[Drift] = []
    up_to_date: list[str] = []
    capped = [
        topic.name for topic, spec in wanted if spec.replication_factor < topic.replication_factor
    ]
    for topic, spec in wanted:
        name = prefix + topic.name
        existing = live.get(name)
        if existing is None:
            to_create.append(spec.named(name))
            continue
        found = _drift(name, spec, existing)
        drift.extend(found)
        if not found:
            up_to_date.append(name)
    warnings = []
    if capped:
        warnings.append(
            f"replication capped at the broker count ({broker_count}) for {len(capped)} "
            "topic(s): acceptable on a development broker only; the production profile "
            "refuses it"
        )
    return TopicPlan(to_create=to_create, drift=drift, up_to_date=up_to_date, warnings=warnings)


@dataclass(frozen=True)
class _Spec:
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]

    def named(self, name: str) -> TopicToCreate:
        return TopicToCreate(name, self.partitions, self.replication_factor, self.configs)


def _effective(
    topic: DeclaredTopic, broker_count: int, cap: bool, partitions_override: int | None
) -> tuple[DeclaredTopic, _Spec]:
    replication = topic.replication_factor
    configs = topic.kafka_configs()
    if cap and replication > broker_count:
        replication = max(1, broker_count)
        configs["min.insync.replicas"] = str(min(topic.min_insync_replicas, replication))
    partitions = partitions_override or topic.partitions
    return topic, _Spec(partitions, replication, configs)


def _drift(name: str, wanted: _Spec, live: LiveTopic) -> list[Drift]:
    found: list[Drift] = []
    if live.partitions < wanted.partitions:
        found.append(
            Drift(
                name,
                "partitions",
                str(wanted.partitions),
                str(live.partitions),
                "not changed: adding partitions moves keys to other partitions; add them "
                "deliberately with kafka-topics.sh --alter --partitions when consumers are idle",
            )
        )
    elif live.partitions > wanted.partitions:
        found.append(
            Drift(
                name,
                "partitions",
                str(wanted.partitions),
                str(live.partitions),
                "Kafka cannot remove partitions; declare the real count",
            )
        )
    if live.replication_factor != wanted.replication_factor:
        found.append(
            Drift(
                name,
                "replication_factor",
                str(wanted.replication_factor),
                str(live.replication_factor),
                "not changed: reassign replicas with kafka-reassign-partitions.sh",
            )
        )
    for key, value in wanted.configs.items():
        actual = live.configs.get(key)
        if actual is not None and actual != value:
            found.append(
                Drift(
                    name,
                    key,
                    value,
                    actual,
                    "not changed: set it with kafka-configs.sh --alter if the file is right",
                )
            )
    return found


async def broker_count(admin: AIOKafkaAdminClient) -> int:
    cluster = await admin.describe_cluster()
    return len(cluster.get("brokers") or [])


async def live_topics(
    admin: AIOKafkaAdminClient, names: Sequence[str], *, with_configs: bool = True
) -> dict[str, LiveTopic]:
    """The existing topics of ``names`` (missing ones are left out), with the configs apply
    compares when ``with_configs``."""
    existing = await existing_topics(admin, names)
    if not existing:
        return {}
    described = await admin.describe_topics(existing)
    found = {
        topic["topic"]: topic["partitions"]
        for topic in described
        if topic.get("error_code") != _UNKNOWN_TOPIC and topic.get("partitions")
    }
    configs: dict[str, dict[str, str]] = {name: {} for name in found}
    if with_configs and found:
        responses = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in found]
        )
        for response in responses:
            for resource in response.to_object()["resources"]:
                configs[resource["resource_name"]] = {
                    entry["config_names"]: entry["config_value"]
                    for entry in resource["config_entries"]
                }
    return {
        name: LiveTopic(
            name=name,
            partitions=len(partitions),
            replication_factor=len(partitions[0].get("replicas") or []),
            configs=configs[name],
        )
        for name, partitions in found.items()
    }


async def existing_topics(admin: AIOKafkaAdminClient, names: Sequence[str]) -> list[str]:
    """The topics of ``names`` that exist, without creating any.

    Describing a topic by name is a metadata request that a broker with auto-creation on
    answers by creating the topic with its own defaults (aiokafka asks for that), so missing
    topics are found in the list of all topics instead; only existing ones are described.
    """
    if not names:
        return []
    listed = set(await admin.list_topics())
    return [name for name in names if name in listed]


async def create_topics(
    admin: AIOKafkaAdminClient, topics: Sequence[TopicToCreate], *, visible_within_s: float = 120.0
) -> None:
    """Create ``topics`` (one that another process created meanwhile is fine), and return once
    the broker lists them all: creation is acknowledged before the metadata shows the topic, and
    whatever runs next (a service's start-up check, another apply) must find it. A broker that
    has just started with thousands of topics (a test suite's) took over 30 s to list new ones
    on a slow 2-core machine; listing them all is itself heavy then, so it is asked twice a
    second."""
    if not topics:
        return
    response = await admin.create_topics(
        [
            NewTopic(
                topic.name,
                topic.partitions,
                topic.replication_factor,
                topic_configs=dict(topic.configs),
            )
            for topic in topics
        ]
    )
    for name, code, *details in response.topic_errors:
        if code not in (0, _TOPIC_ALREADY_EXISTS):
            message = details[0] if details and details[0] else ""
            raise for_code(code)(f"creating topic {name!r}: {message}")
    await _until_listed(admin, [topic.name for topic in topics], visible_within_s)


async def _until_listed(admin: AIOKafkaAdminClient, names: list[str], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while True:
        missing = set(names) - set(await admin.list_topics())
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"created topics still not listed by the broker after {within_s:.0f}s: "
                + ", ".join(sorted(missing))
            )
        await asyncio.sleep(0.5)
