"""Every workload's resources: the four services (scaled by KEDA) and the ops console."""

from __future__ import annotations

from typing import Any

from orderflow_deploy import workload_manifests as m
from orderflow_deploy.workloads import CONSOLE, SERVICES, Workload

Resource = dict[str, Any]

# Names of Secrets the operator creates (deploy/kubernetes/README.md), not their values.
PAYMENT_PROVIDERS_SECRET = "orderflow-payment-providers"  # noqa: S105
CONSOLE_SECRET = "orderflow-console"  # noqa: S105
CART_SECRET = "orderflow-cart-storefront"  # noqa: S105

# Payment calls its card processor and PayPal over HTTPS: any public address, port 443.
_PUBLIC_HTTPS: Resource = {
    "to": [
        {
            "ipBlock": {
                "cidr": "0.0.0.0/0",
                "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
            }
        }
    ],
    "ports": [{"port": 443, "protocol": "TCP"}],
}

# The console probes each service's /health and /metrics.
_TO_SERVICES: Resource = {
    "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/component": "service"}}}],
    "ports": [{"port": m.HTTP_PORT, "protocol": "TCP"}],
}


def _payment_env() -> list[Resource]:
    return [
        {"name": "PAYMENT_CARD_PROVIDER", "value": "card-processor"},
        {"name": "PAYMENT_PAYPAL_PROVIDER", "value": "paypal"},
        # PayPal's live API (the setting's default is its sandbox); the card processor's
        # address is the operator's to set in an overlay.
        {"name": "PAYMENT_PAYPAL_BASE_URL", "value": "https://api-m.paypal.com"},
        m.secret_env(
            "PAYMENT_CARD_PROCESSOR_API_KEY", PAYMENT_PROVIDERS_SECRET, "card-processor-api-key"
        ),
        m.secret_env("PAYMENT_PAYPAL_CLIENT_ID", PAYMENT_PROVIDERS_SECRET, "paypal-client-id"),
        m.secret_env(
            "PAYMENT_PAYPAL_CLIENT_SECRET", PAYMENT_PROVIDERS_SECRET, "paypal-client-secret"
        ),
    ]


def _cart_env() -> list[Resource]:
    # The storefront's bearer token for the order-status API, from a Secret the operator
    # creates (deploy/kubernetes/README.md): without the Secret the cart does not start.
    return [m.secret_env("CART_STOREFRONT_API_TOKEN", CART_SECRET, "api-token")]


def _fulfillment_env() -> list[Resource]:
    # No sample warehouses in production: stock comes from `orderflow-fulfillment stock load`.
    return [{"name": "FULFILLMENT_SEED_FILE", "value": ""}]


_SERVICE_ENV = {"payment": _payment_env, "cart": _cart_env, "fulfillment": _fulfillment_env}


def _console_env() -> list[Resource]:
    watched = ",".join(f"{w.name}=http://{w.deployment}" for w in SERVICES.values())
    return [
        m.secret_env("CONSOLE_USERS", CONSOLE_SECRET, "users"),
        m.secret_env("CONSOLE_SESSION_SECRET", CONSOLE_SECRET, "session-secret"),
        {"name": "CONSOLE_COOKIE_SECURE", "value": "true"},
        {"name": "CONSOLE_SERVICES", "value": watched},
    ]


def _resources(
    workload: Workload,
    command: list[str],
    replicas: int | None,
    env: list[Resource],
    egress: list[Resource],
) -> list[Resource]:
    return [
        m.service_account(workload),
        m.service(workload),
        m.deployment(workload, command, replicas, env),
        m.disruption_budget(workload, single_replica=replicas == 1),
        m.network_policy(workload, egress),
        m.service_monitor(workload),
    ]


def all_workloads() -> list[Resource]:
    resources: list[Resource] = []
    for workload in SERVICES.values():
        is_payment = workload.name == "payment"
        env = _SERVICE_ENV.get(workload.name)
        resources += _resources(
            workload,
            [f"orderflow-{workload.name}", "run"],
            replicas=None,  # KEDA sets it: between 2 and the partition count
            env=env() if env is not None else [],
            egress=[_PUBLIC_HTTPS] if is_payment else [],
        )
    resources += _resources(
        CONSOLE, ["orderflow-console", "run"], replicas=1, env=_console_env(), egress=[_TO_SERVICES]
    )
    return resources
