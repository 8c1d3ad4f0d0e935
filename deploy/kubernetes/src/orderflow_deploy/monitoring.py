"""The PrometheusRule: the alert rules of deploy/monitoring, wrapped for prometheus-operator.

Every YAML file under deploy/monitoring that is a Prometheus rule file (a mapping with a
``groups`` list) is included, so the rules are written once, for Prometheus, and Kubernetes
gets the same. With none there yet, the resource is an explicit, empty placeholder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]


def rule_groups(monitoring_dir: Path) -> tuple[list[Resource], list[str]]:
    """The rule groups of every rule file under ``monitoring_dir``, and those files' names."""
    groups: list[Resource] = []
    sources: list[str] = []
    if not monitoring_dir.is_dir():
        return groups, sources
    for path in sorted([*monitoring_dir.rglob("*.yml"), *monitoring_dir.rglob("*.yaml")]):
        loaded = yaml.safe_load(path.read_text())
        if isinstance(loaded, dict) and isinstance(loaded.get("groups"), list):
            groups.extend(loaded["groups"])
            sources.append(path.relative_to(monitoring_dir.parent.parent).as_posix())
    return groups, sources


def prometheus_rule(monitoring_dir: Path) -> Resource:
    groups, sources = rule_groups(monitoring_dir)
    annotations = {
        "orderflow.io/rules-from": ", ".join(sources)
        or "PLACEHOLDER: no Prometheus rule file under deploy/monitoring when generated"
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "orderflow-alerts", "annotations": annotations},
        "spec": {"groups": groups},
    }
