"""The topics file loader: defaults applied, and every problem of a bad file named by place."""

from pathlib import Path

import pytest
from orderflow_chassis.topic_catalog import (
    TOPICS_FILE_ENV,
    TopicCatalogError,
    load_topic_catalog,
    parse_topic_catalog,
)

DEFAULTS = """
defaults:
  partitions: 12
  replication_factor: 3
  min_insync_replicas: 2
  retention_ms: 604800000
  cleanup_policy: delete
"""


def catalog_text(topics: str) -> str:
    return DEFAULTS + "topics:\n" + topics


ORDERS = """
  - name: orders
    kind: public
    producers: [cart]
    consumers: [payment]
  - name: orders.dlq
    kind: dead-letter
    producers: [payment]
    retention_ms: 2419200000
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(TopicCatalogError) as error:
        parse_topic_catalog(text, source="topics.yaml")
    assert str(error.value).startswith("topics.yaml: invalid topics file:")
    return error.value.problems


def test_defaults_apply_unless_a_topic_overrides_them() -> None:
    catalog = parse_topic_catalog(catalog_text(ORDERS))

    orders, dead_letters = catalog.declared["orders"], catalog.declared["orders.dlq"]
    assert (orders.partitions, orders.replication_factor, orders.retention_ms) == (12, 3, 604800000)
    assert orders.producers == ("cart",)
    assert orders.consumers == ("payment",)
    assert dead_letters.retention_ms == 2419200000
    assert dead_letters.kafka_configs() == {
        "min.insync.replicas": "2",
        "retention.ms": "2419200000",
        "cleanup.policy": "delete",
    }


def test_an_undeclared_topic_gets_the_defaults() -> None:
    catalog = parse_topic_catalog(catalog_text(ORDERS))

    private = catalog.spec_for("private-in")
    assert (private.kind, private.partitions, private.retention_ms) == ("internal", 12, 604800000)
    assert catalog.spec_for("private-in.dlq").kind == "dead-letter"


def test_the_repository_file_loads() -> None:
    catalog = load_topic_catalog()

    assert "orders" in catalog.names
    assert "orders.dlq" in catalog.names


@pytest.mark.parametrize(
    ("topics", "expected"),
    [
        (ORDERS + "    partitions: 0\n", "topics[1].partitions: Input should be greater than"),
        (ORDERS + "    colour: blue\n", "topics[1].colour: Extra inputs are not permitted"),
        (ORDERS.replace("kind: public", "kind: public-ish"), "topics[0].kind: Input should be"),
        (ORDERS.replace("kind: dead-letter", "kind: public"), "dead-letter topics (and only they)"),
        (ORDERS.replace("[cart]", "[Cart Service]"), "'Cart Service' is not a service"),
        (ORDERS + ORDERS, "topics[2] (orders): declared twice"),
        (ORDERS.split("  - name: orders.dlq")[0], "orders: its dead-letter topic orders.dlq is"),
        (
            ORDERS + "    min_insync_replicas: 3\n    replication_factor: 2\n",
            "topics[1] (orders.dlq): min_insync_replicas 3 is above replication_factor 2",
        ),
    ],
)
def test_a_bad_declaration_is_named_by_its_place(topics: str, expected: str) -> None:
    problems = problems_of(catalog_text(topics))

    assert any(expected in problem for problem in problems), problems


def test_missing_defaults_and_bad_yaml_are_named() -> None:
    assert any("defaults: Field required" in p for p in problems_of("topics: []\n"))
    assert any("not valid YAML" in p for p in problems_of("defaults: [unclosed\n"))
    assert any(
        "topics: List should have at least 1 item" in p
        for p in problems_of(DEFAULTS + "topics: []")
    )


def test_an_unreadable_file_says_which_setting_points_at_it(tmp_path: Path) -> None:
    with pytest.raises(TopicCatalogError) as error:
        load_topic_catalog(tmp_path / "absent.yaml")

    assert str(tmp_path / "absent.yaml") in str(error.value)
    assert TOPICS_FILE_ENV in str(error.value)


def test_the_file_is_found_through_its_environment_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "topics.yaml"
    own.write_text(catalog_text(ORDERS), encoding="utf-8")
    monkeypatch.setenv(TOPICS_FILE_ENV, str(own))

    assert load_topic_catalog().source == str(own)
