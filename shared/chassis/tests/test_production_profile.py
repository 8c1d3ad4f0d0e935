"""ORDERFLOW_ENV=production refuses development settings, each with what to set instead;
development stays zero-config; contradictory settings fail in any environment."""

from typing import Any

import pytest
from orderflow_chassis.production_profile import (
    ProductionProfileError,
    check_production_profile,
    production_refusals,
)
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.topic_catalog import TopicCatalog, parse_topic_catalog

CATALOG_TEMPLATE = """
defaults:
  partitions: 12
  replication_factor: {replication}
  min_insync_replicas: {insync}
  retention_ms: 604800000
  cleanup_policy: delete
topics:
  - {{name: orders, kind: public}}
  - {{name: orders.dlq, kind: dead-letter}}
"""
SAFE_CATALOG = parse_topic_catalog(
    CATALOG_TEMPLATE.format(replication=3, insync=2), source="topics.yaml"
)


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell running the tests may point at a broker; these tests set what they need."""
    for name in (
        "ORDERFLOW_ENV",
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_ALLOW_PLAINTEXT",
        "KAFKA_CREATE_TOPICS",
        "CART_HTTP_HOST",
        "CART_HTTP_PORT",
        "CART_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def catalog(replication: int, insync: int) -> TopicCatalog:
    text = CATALOG_TEMPLATE.format(replication=replication, insync=insync)
    return parse_topic_catalog(text, source="topics.yaml")


def production_settings(**overrides: Any) -> ServiceSettings:
    """A production service configured as it should be; tests spoil one thing each."""
    values: dict[str, Any] = {
        "environment": "production",
        "kafka_bootstrap_servers": "kafka-0.kafka:9093,kafka-1.kafka:9093",
        "database_url": "postgresql://orderflow_cart:s3cret-from-vault@db.internal/orderflow",
        "http_host": "0.0.0.0",  # noqa: S104 - what a production service must be told
        "http_port": 8080,
    }
    values.update(overrides)
    return ServiceSettings.for_service("cart", **values)


def refusals(settings: ServiceSettings, **kwargs: Any) -> list[str]:
    kwargs.setdefault("security_protocol", "SASL_SSL")
    return production_refusals(settings, kwargs.pop("catalog", SAFE_CATALOG), **kwargs)


def test_a_properly_configured_production_service_starts() -> None:
    check_production_profile(production_settings(), SAFE_CATALOG, security_protocol="SASL_SSL")


def test_development_accepts_every_development_default() -> None:
    settings = ServiceSettings.for_service(
        "cart", database_url="postgresql://orderflow_cart:cart-local-password@127.0.0.1/orderflow"
    )

    assert settings.environment == "development"
    assert settings.creates_topics
    check_production_profile(settings, catalog(1, 1), security_protocol="PLAINTEXT")


def test_the_profile_is_read_from_orderflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERFLOW_ENV", "production")
    monkeypatch.setenv("CART_DATABASE_URL", "postgresql://orderflow_cart@db/orderflow")

    settings = ServiceSettings.for_service("cart")

    assert settings.production
    assert not settings.creates_topics
    with pytest.raises(ProductionProfileError) as refused:
        check_production_profile(settings, SAFE_CATALOG, security_protocol="PLAINTEXT")
    message = str(refused.value)
    assert message.startswith("cart: ORDERFLOW_ENV=production refuses to start")
    # Every refusal at once: one restart fixes them all.
    for setting in ("KAFKA_BOOTSTRAP_SERVERS", "CART_HTTP_HOST", "CART_HTTP_PORT"):
        assert setting in message, message
    assert "KAFKA_SECURITY_PROTOCOL is PLAINTEXT" in message


def test_an_unknown_environment_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="environment"):
        ServiceSettings.for_service("cart", environment="prod", database_url="postgresql://x@y/z")


def test_bootstrap_servers_left_at_the_localhost_default_are_refused() -> None:
    settings = ServiceSettings.for_service(
        "cart",
        environment="production",
        database_url="postgresql://orderflow_cart@db/orderflow",
        http_host="0.0.0.0",  # noqa: S104 - what a production service must be told
        http_port=8080,
    )

    assert refusals(settings) == [
        "KAFKA_BOOTSTRAP_SERVERS is not set (the development default is 127.0.0.1:19092); set "
        "it to the brokers' host:port list"
    ]


def test_http_defaults_that_probes_cannot_reach_are_refused() -> None:
    settings = ServiceSettings.for_service(
        "cart",
        environment="production",
        kafka_bootstrap_servers="kafka:9093",
        database_url="postgresql://orderflow_cart@db/orderflow",
    )

    found = refusals(settings)
    assert len(found) == 2
    assert found[0].startswith("CART_HTTP_HOST is not set (the development default 127.0.0.1")
    assert found[1].startswith("CART_HTTP_PORT is not set (0 picks a random port")


@pytest.mark.parametrize("password", ["cart-local-password", "orderflow_admin"])
def test_a_development_database_password_is_refused(password: str) -> None:
    settings = production_settings(database_url=f"postgresql://u:{password}@db/orderflow")

    assert refusals(settings) == [
        f"CART_DATABASE_URL uses the development password {password!r} (published in this "
        "repository); give the role cart's own secret password"
    ]


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT", "plaintext"])
def test_unencrypted_kafka_is_refused_unless_explicitly_allowed(protocol: str) -> None:
    found = refusals(production_settings(), security_protocol=protocol)
    allowed = refusals(production_settings(kafka_allow_plaintext=True), security_protocol=protocol)

    assert len(found) == 1
    assert found[0].startswith(f"KAFKA_SECURITY_PROTOCOL is {protocol.upper()}: events")
    assert "set KAFKA_SECURITY_PROTOCOL=SASL_SSL" in found[0]
    assert "KAFKA_ALLOW_PLAINTEXT=true" in found[0]
    assert allowed == []


def test_the_security_protocol_is_read_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unset = production_refusals(production_settings(), SAFE_CATALOG)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SSL")
    encrypted = production_refusals(production_settings(), SAFE_CATALOG)

    assert [r.split(":")[0] for r in unset] == ["KAFKA_SECURITY_PROTOCOL is PLAINTEXT"]
    assert encrypted == []


def test_topics_replicated_fewer_than_three_times_are_refused() -> None:
    found = refusals(production_settings(), catalog=catalog(replication=2, insync=1))

    assert found == [
        "topics.yaml: replication_factor below 3 for orders, orders.dlq: one broker lost could "
        "lose acknowledged events; set replication_factor: 3 (in defaults, and drop the "
        "per-topic overrides)",
        "topics.yaml: min_insync_replicas below 2 for orders, orders.dlq: a write acknowledged "
        "by a single replica is lost with it; set min_insync_replicas: 2",
    ]


def test_asking_a_production_service_to_create_topics_is_a_contradiction() -> None:
    found = refusals(production_settings(kafka_create_topics=True))

    assert len(found) == 1
    assert found[0].startswith("KAFKA_CREATE_TOPICS=true contradicts the production profile")
    assert "orderflow-topics apply" in found[0]


def test_a_moved_clock_is_for_tests_and_refused_in_production() -> None:
    found = refusals(production_settings(clock_offset_s=-3_456_000))

    assert found == [
        "CART_CLOCK_OFFSET_S=-3456000 is for end-to-end tests: a production service keeps "
        "the system's time; unset it"
    ]


def test_a_service_adds_its_own_refusals_to_the_list() -> None:
    with pytest.raises(ProductionProfileError) as refused:
        check_production_profile(
            production_settings(),
            SAFE_CATALOG,
            security_protocol="SASL_SSL",
            extra_refusals=["PAYMENT_CARD_PROVIDER is sandbox"],
        )

    assert refused.value.refusals == ["PAYMENT_CARD_PROVIDER is sandbox"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"db_pool_min_size": 5, "db_pool_max_size": 2},
            "CART_DB_POOL_MIN_SIZE (5) is above CART_DB_POOL_MAX_SIZE (2)",
        ),
        (
            {"consumer_retry_initial_delay_s": 9.0, "consumer_retry_max_delay_s": 1.0},
            "CART_CONSUMER_RETRY_INITIAL_DELAY_S (9.0) is above CART_CONSUMER_RETRY_MAX_DELAY_S",
        ),
    ],
)
def test_contradictory_settings_fail_naming_both_in_any_environment(
    overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValueError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        ServiceSettings.for_service("cart", database_url="postgresql://x@y/z", **overrides)
