"""Deployment, Service, ServiceAccount, PodDisruptionBudget, NetworkPolicy and ServiceMonitor
of each workload: the same shape for every service, so they are written once, here.

Settings reach the pods as environment variables; every credential comes from a Secret by
reference (the service's SCRAM password from Strimzi's KafkaUser secret, its database password
from the Secret CloudNativePG sets the role's password from).
"""

from __future__ import annotations

from typing import Any

from orderflow_deploy.workloads import BOOTSTRAP_SERVERS, CLUSTER_CA_SECRET, CLUSTER_NAME, Workload

Resource = dict[str, Any]

HTTP_PORT = 8080
IMAGE = "orderflow"  # overlays pin the registry and tag with kustomize `images:`
DATABASE_CLUSTER = "orderflow-db"
DATABASE_CA_SECRET = f"{DATABASE_CLUSTER}-ca"
KAFKA_CA_DIR = "/etc/orderflow/kafka-ca"
DATABASE_CA_DIR = "/etc/orderflow/db-ca"
TOPICS_DIR = "/etc/orderflow/topics"
TOPICS_CONFIG_MAP = "orderflow-topics"
USER_ID = 10001  # the image's numeric user
CONTAINER = "orderflow"  # one name in every pod, so overlays can patch them all at once


def labels(workload: Workload, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": workload.deployment,
        "app.kubernetes.io/part-of": "orderflow",
        "app.kubernetes.io/component": component,
    }


def secret_env(name: str, secret: str, key: str) -> Resource:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def environment(workload: Workload, extra: list[Resource]) -> list[Resource]:
    prefix = workload.name.upper()
    role = f"orderflow_{workload.name}"
    database_url = (
        f"postgresql://{role}:$({prefix}_DB_PASSWORD)@{DATABASE_CLUSTER}-rw:5432/orderflow"
        f"?sslmode=verify-full&sslrootcert={DATABASE_CA_DIR}/ca.crt"
    )
    return [
        {"name": "ORDERFLOW_ENV", "value": "production"},
        {"name": "LOG_FORMAT", "value": "json"},
        {"name": f"{prefix}_HTTP_HOST", "value": "0.0.0.0"},  # noqa: S104 (the pod's own address)
        {"name": f"{prefix}_HTTP_PORT", "value": str(HTTP_PORT)},
        {"name": "KAFKA_BOOTSTRAP_SERVERS", "value": BOOTSTRAP_SERVERS},
        {"name": "KAFKA_SECURITY_PROTOCOL", "value": "SASL_SSL"},
        {"name": "KAFKA_SASL_MECHANISM", "value": "SCRAM-SHA-512"},
        {"name": "KAFKA_SASL_USERNAME", "value": workload.kafka_user},
        secret_env("KAFKA_SASL_PASSWORD", workload.kafka_user, "password"),
        {"name": "KAFKA_SSL_CAFILE", "value": f"{KAFKA_CA_DIR}/ca.crt"},
        # The declared topics (deploy/topics.yaml) that the service checks its own against.
        {"name": "KAFKA_TOPICS_FILE", "value": f"{TOPICS_DIR}/topics.yaml"},
        # Declared before the URL that uses it: Kubernetes expands $(NAME) from earlier entries.
        secret_env(f"{prefix}_DB_PASSWORD", f"{DATABASE_CLUSTER}-{workload.name}", "password"),
        {"name": f"{prefix}_DATABASE_URL", "value": database_url},
        *extra,
    ]


def deployment(
    workload: Workload, command: list[str], replicas: int | None, extra_env: list[Resource]
) -> Resource:
    component = "console" if workload.name == "console" else "service"
    probe = {"httpGet": {"path": "/health/live", "port": "http"}, "timeoutSeconds": 5}
    container = {
        "name": CONTAINER,
        "image": IMAGE,
        "command": command,
        "ports": [{"name": "http", "containerPort": HTTP_PORT}],
        "env": environment(workload, extra_env),
        # Up to 5 minutes to start (migrations on a large schema), then the usual probes.
        "startupProbe": {**probe, "periodSeconds": 5, "failureThreshold": 60},
        "livenessProbe": {**probe, "periodSeconds": 20, "failureThreshold": 3},
        "readinessProbe": {
            "httpGet": {"path": "/health/ready", "port": "http"},
            "timeoutSeconds": 5,
            "periodSeconds": 10,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (a private emptyDir)
            {"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True},
            {"name": "db-ca", "mountPath": DATABASE_CA_DIR, "readOnly": True},
            {"name": "topics", "mountPath": TOPICS_DIR, "readOnly": True},
        ],
    }
    # None: KEDA owns the count (a fixed number here would reset it on every apply).
    count = {} if replicas is None else {"replicas": replicas}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": workload.deployment, "labels": labels(workload, component)},
        "spec": {
            **count,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {"app.kubernetes.io/name": workload.deployment}},
            # Never below the wanted count during a rollout: one new pod, then one old one goes.
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels(workload, component)},
                "spec": {
                    "serviceAccountName": workload.deployment,
                    "automountServiceAccountToken": False,
                    # Consumers leave their group and the relay its lease on SIGTERM.
                    "terminationGracePeriodSeconds": 45,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": USER_ID,
                        "runAsGroup": USER_ID,
                        "fsGroup": USER_ID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {
                                "matchLabels": {"app.kubernetes.io/name": workload.deployment}
                            },
                        }
                    ],
                    "containers": [container],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                        {
                            "name": "kafka-ca",
                            "secret": {
                                "secretName": CLUSTER_CA_SECRET,
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            },
                        },
                        {
                            "name": "db-ca",
                            "secret": {
                                "secretName": DATABASE_CA_SECRET,
                                "items": [{"key": "ca.crt", "path": "ca.crt"}],
                            },
                        },
                        {"name": "topics", "configMap": {"name": TOPICS_CONFIG_MAP}},
                    ],
                },
            },
        },
    }


def service_account(workload: Workload) -> Resource:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": workload.deployment, "labels": labels(workload, "service")},
        "automountServiceAccountToken": False,
    }


def service(workload: Workload) -> Resource:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": workload.deployment, "labels": labels(workload, "service")},
        "spec": {
            "selector": {"app.kubernetes.io/name": workload.deployment},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def disruption_budget(workload: Workload, single_replica: bool) -> Resource:
    # A single-replica console may be drained; services keep at least one consumer running.
    budget = {"maxUnavailable": 1} if single_replica else {"minAvailable": 1}
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": workload.deployment},
        "spec": {
            **budget,
            "selector": {"matchLabels": {"app.kubernetes.io/name": workload.deployment}},
        },
    }


def service_monitor(workload: Workload) -> Resource:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": workload.deployment, "labels": labels(workload, "service")},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": workload.deployment}},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }


def network_policy(workload: Workload, extra_egress: list[Resource]) -> Resource:
    """Ingress on the HTTP port from the console, Prometheus and labelled API clients only;
    egress to DNS, the Kafka brokers and the database only (plus ``extra_egress``)."""
    http = [{"port": "http", "protocol": "TCP"}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": workload.deployment},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": workload.deployment}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {
                            "podSelector": {
                                "matchLabels": {"app.kubernetes.io/component": "console"}
                            }
                        },
                        {"podSelector": {"matchLabels": {"orderflow.io/api-client": "true"}}},
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                            }
                        },
                    ],
                    "ports": http,
                }
            ],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                },
                {
                    "to": [
                        {
                            "podSelector": {
                                "matchLabels": {
                                    "strimzi.io/cluster": CLUSTER_NAME,
                                    "strimzi.io/broker-role": "true",
                                }
                            }
                        }
                    ],
                    "ports": [{"port": 9093, "protocol": "TCP"}],
                },
                {
                    "to": [{"podSelector": {"matchLabels": {"cnpg.io/cluster": DATABASE_CLUSTER}}}],
                    "ports": [{"port": 5432, "protocol": "TCP"}],
                },
                *extra_egress,
            ],
        },
    }
