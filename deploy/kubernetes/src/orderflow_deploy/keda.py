"""KEDA ScaledObjects: each service scales on the lag of its consumer groups.

One Kafka trigger per consumer group (KEDA scales to the highest any trigger asks for). The
ceiling is the partition count of the busiest topic the service reads: an instance beyond it
would get no partition of that topic. The triggers authenticate like the service itself (its
SCRAM user, the cluster CA) through a TriggerAuthentication.
"""

from __future__ import annotations

from typing import Any

from orderflow_deploy.topic_catalog import Topic
from orderflow_deploy.workloads import BOOTSTRAP_SERVERS, CLUSTER_CA_SECRET, Workload

Resource = dict[str, Any]

LAG_THRESHOLD = 1000
"""Records of lag per instance before KEDA adds one: five full batches. KEDA reads lag from the
committed offsets, which trail what was applied by up to a second of records while records keep
coming (``CONSUMER_COMMIT_INTERVAL_MS``): a threshold near one second's traffic would add
instances for work already done."""

MIN_REPLICAS = 2
"""Never fewer than two: a rolling update or a lost node keeps a consumer (see the PDBs)."""


def max_replicas(workload: Workload, topics: tuple[Topic, ...]) -> int:
    partitions = {topic.name: topic.settings.partitions for topic in topics}
    read = [name for names in workload.subscriptions.values() for name in names]
    missing = sorted(set(read) - set(partitions))
    if missing:
        raise ValueError(f"{workload.name} reads undeclared topics: {', '.join(missing)}")
    return max(MIN_REPLICAS, max(partitions[name] for name in read))


def trigger_authentication(workload: Workload) -> Resource:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": f"{workload.deployment}-kafka"},
        "spec": {
            "secretTargetRef": [
                {"parameter": "password", "name": workload.kafka_user, "key": "password"},
                {"parameter": "ca", "name": CLUSTER_CA_SECRET, "key": "ca.crt"},
            ],
            # The SCRAM user name is not in Strimzi's secret: take it from the container.
            "env": [
                {
                    "parameter": "username",
                    "name": "KAFKA_SASL_USERNAME",
                    "containerName": "orderflow",
                }
            ],
        },
    }


def scaled_object(workload: Workload, topics: tuple[Topic, ...]) -> Resource:
    triggers = [
        {
            "type": "kafka",
            "name": group.removeprefix("orderflow.").replace(".", "-"),
            "metadata": {
                "bootstrapServers": BOOTSTRAP_SERVERS,
                "consumerGroup": group,
                "lagThreshold": str(LAG_THRESHOLD),
                "offsetResetPolicy": "earliest",
                "allowIdleConsumers": "false",
                "sasl": "scram_sha512",
                "tls": "enable",
            },
            "authenticationRef": {"name": f"{workload.deployment}-kafka"},
        }
        for group in workload.consumer_groups()
    ]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": workload.deployment},
        "spec": {
            "scaleTargetRef": {"name": workload.deployment},
            "minReplicaCount": MIN_REPLICAS,
            "maxReplicaCount": max_replicas(workload, topics),
            "pollingInterval": 15,
            # Scale in slowly: every scale-in is a consumer-group rebalance.
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": 300,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                        }
                    }
                }
            },
            "triggers": triggers,
        },
    }
