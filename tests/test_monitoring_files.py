"""deploy/monitoring: the Grafana dashboard and the Prometheus alert rules.

Every query and rule is parsed as PromQL (``promql-parser``, bindings of the Rust PromQL
parser); every metric and label it uses must be one the services export (the chassis'
registry, plus the ops console's two gauges); an alert's annotations may only name labels
its result carries. The rules file is checked for what Prometheus requires of it. promtool
(Prometheus' own checker) also checks the rules and runs their unit tests when it is built:
see tests.support.promtool.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from orderflow_chassis.metrics import exported_series
from orderflow_ops.console import metrics as console_metrics
from orderflow_payment import metrics as payment_metrics
from orderflow_returns import metrics as returns_metrics

from tests.support import promql, promtool

MONITORING = Path(__file__).resolve().parents[1] / "deploy" / "monitoring"
DASHBOARD = MONITORING / "orderflow-dashboard.json"
ALERTS = MONITORING / "orderflow-alerts.yml"
ALERT_TESTS = MONITORING / "orderflow-alerts-test.yml"

REQUIRED_ALERTS = {
    "OrderflowConsumerLagGrowing",
    "OrderflowDeadLetters",
    "OrderflowOrdersStuckPastSla",
    "OrderflowOutboxBacklog",
    "OrderflowNoRelayLeader",
    "OrderflowInvariantViolated",
    "OrderflowPeriodicJobNotSucceeding",
    "OrderflowPeriodicJobSkippingItems",
    "OrderflowOutboxPartitionPaused",
    "OrderflowConsumerRewindOwed",
}
_TEMPLATE_LABEL = re.compile(r"\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)")
_ALERT_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def dashboard_queries() -> dict[str, str]:
    """Every panel query, keyed ``<panel id>_<refId>``, with the variables filled in."""
    return {
        f"{panel['id']}_{target['refId']}": target["expr"].replace("$service", ".*")
        for panel in panels(dashboard()["panels"])
        for target in panel.get("targets", [])
    }


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def known_series() -> dict[str, frozenset[str]]:
    # The console exports what only its read model knows (orders stuck, invariants).
    return {
        **exported_series(),
        **console_metrics.exported_series(),
        **payment_metrics.exported_series(),
        **returns_metrics.exported_series(),
    }


def unknown_names_and_labels(expression: str) -> list[str]:
    """Metrics the services do not export, and labels none of the expression's metrics has."""
    known = known_series()
    used = promql.usage(expression)
    problems = [f"unknown metric {name}" for name in sorted(used.metrics - known.keys())]
    labels = promql.TARGET_LABELS.union(*(known.get(name, frozenset()) for name in used.metrics))
    for label, where in sorted(used.labels):
        if label not in labels and label != "le":
            problems.append(f"label {label} ({where}) is on none of {sorted(used.metrics)}")
    return problems


def test_every_dashboard_query_uses_exported_metrics_and_labels() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    problems = {key: unknown_names_and_labels(expr) for key, expr in queries.items()}
    assert not {key: found for key, found in problems.items() if found}


def test_every_alert_uses_exported_metrics_and_labels_and_the_required_alerts_exist() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= REQUIRED_ALERTS
    problems = {rule["alert"]: unknown_names_and_labels(rule["expr"]) for rule in rules}
    assert not {alert: found for alert, found in problems.items() if found}


def test_the_checker_itself_catches_a_metric_or_label_nobody_exports() -> None:
    assert unknown_names_and_labels("sum by (service) (orderflow_outbox_unsent)") == []
    assert unknown_names_and_labels("orderflow_consumer_lagg > 0") == [
        "unknown metric orderflow_consumer_lagg"
    ]
    assert unknown_names_and_labels("sum by (stage) (orderflow_outbox_unsent)") == [
        "label stage (grouping) is on none of ['orderflow_outbox_unsent']"
    ]
    with pytest.raises(ValueError, match="parenthesis"):
        unknown_names_and_labels("sum by (service (orderflow_outbox_unsent)")


def test_the_dashboard_is_importable_into_grafana() -> None:
    loaded = dashboard()
    ids = [panel["id"] for panel in panels(loaded["panels"])]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    assert loaded["uid"] == "orderflow-pipeline"
    variables = {v["name"]: v for v in loaded["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    for panel in panels(loaded["panels"]):
        assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"


def test_the_rules_file_has_what_prometheus_requires() -> None:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    names = [group["name"] for group in groups]
    assert len(names) == len(set(names)), "group names are unique"
    for rule in (rule for group in groups for rule in group["rules"]):
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert _ALERT_NAME.match(rule["alert"]), rule["alert"]
        promql.parse(rule["expr"])
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
        for mapping in (rule.get("labels", {}), rule.get("annotations", {})):
            assert all(isinstance(v, str) for v in mapping.values()), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert {"summary", "description"} <= rule["annotations"].keys()


def test_alert_annotations_name_only_labels_the_alert_carries() -> None:
    for rule in alert_rules():
        carried = promql.result_labels(rule["expr"], known_series())
        assert carried is not None, f"{rule['alert']}: its labels cannot be known"
        carried |= set(rule.get("labels", {}))
        for text in rule["annotations"].values():
            assert text.count("{{") == text.count("}}"), f"{rule['alert']}: {text}"
            named = set(_TEMPLATE_LABEL.findall(text))
            assert named <= carried, f"{rule['alert']} names {named - carried}: {text}"


def test_the_annotation_check_catches_a_label_the_alert_does_not_carry() -> None:
    carried = promql.result_labels("sum by (service) (orderflow_outbox_unsent) > 1", known_series())
    assert carried == frozenset({"service"})
    assert set(_TEMPLATE_LABEL.findall("{{ $labels.topic }} of {{ $labels.service }}")) - (
        carried or set()
    ) == {"topic"}


@pytest.fixture(scope="module")
def promtool_binary() -> Path:
    """promtool when built (or ``ORDERFLOW_PROMTOOL=1`` asks to build it now); else skipped:
    a cold build takes tens of minutes on a 2-core machine, too long for every CI run."""
    binary = promtool.available()
    if binary is None and os.environ.get("ORDERFLOW_PROMTOOL") == "1":
        try:
            binary = promtool.promtool()
        except promtool.PromtoolUnavailable as unavailable:
            pytest.fail(str(unavailable))
    if binary is None:
        pytest.skip("promtool is not built: `uv run python -m tests.support.promtool` builds it")
    return binary


def test_promtool_accepts_the_alert_rules(promtool_binary: Path) -> None:
    result = promtool.run("check", "rules", "--lint=all", "--lint-fatal", ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alert_rules_unit_tests_pass(promtool_binary: Path) -> None:
    result = promtool.run("test", "rules", ALERT_TESTS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_parses_every_dashboard_query(promtool_binary: Path, tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:panel_{key}", "expr": expr}
                    for key, expr in dashboard_queries().items()
                ],
            }
        ]
    }
    recording = tmp_path / "dashboard-queries.yml"
    recording.write_text(yaml.safe_dump(rules))
    result = promtool.run("check", "rules", recording)
    assert result.returncode == 0, result.stdout + result.stderr

    broken = tmp_path / "broken.yml"
    rules["groups"][0]["rules"] = [{"record": "broken", "expr": "sum by (service (x)"}]
    broken.write_text(yaml.safe_dump(rules))
    assert promtool.run("check", "rules", broken).returncode != 0, "promtool does check"
