import pytest
from orderflow_chassis.kafka_tool_profile import KafkaToolProfile
from orderflow_chassis.settings import ServiceSettings


def test_service_settings_read_prefixed_and_shared_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("CART_DATABASE_URL", "postgresql://cart@db/orderflow")
    monkeypatch.setenv("PAYMENT_DATABASE_URL", "postgresql://payment@db/orderflow")
    monkeypatch.setenv("CART_HTTP_PORT", "8001")

    settings = ServiceSettings.for_service("cart")

    assert settings.kafka_bootstrap_servers == "broker:9092"
    assert settings.database_url == "postgresql://cart@db/orderflow"
    assert settings.http_port == 8001
    assert settings.db_schema == "cart"
    assert settings.consumer_group == "orderflow.cart"


@pytest.mark.parametrize("name", ["Cart", "cart-service", "1cart", "cart;drop", ""])
def test_service_names_must_be_plain_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid service name"):
        ServiceSettings.for_service(name, database_url="postgresql://x@y/z")


def test_missing_database_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RETURNS_DATABASE_URL", raising=False)
    with pytest.raises(ValueError, match="database_url"):
        ServiceSettings.for_service("returns")


def test_consumer_sessions_are_read_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CART_CONSUMER_SESSION_TIMEOUT_MS", "2500")
    monkeypatch.setenv("CART_CONSUMER_HEARTBEAT_INTERVAL_MS", "500")
    settings = ServiceSettings.for_service("cart", database_url="postgresql://x@y/z")
    assert (settings.consumer_session_timeout_ms, settings.consumer_heartbeat_interval_ms) == (
        2500,
        500,
    )


def test_heartbeats_must_fit_three_times_in_a_session() -> None:
    with pytest.raises(ValueError, match="a third of consumer_session_timeout_ms"):
        ServiceSettings.for_service(
            "cart",
            database_url="postgresql://x@y/z",
            consumer_session_timeout_ms=2000,
            consumer_heartbeat_interval_ms=1000,
        )


def test_a_services_own_defaults_give_way_to_its_variables_and_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CONSOLE_CONSUMER_MAX_RECORDS", raising=False)
    url = "postgresql://console@db/orderflow"
    own = {"consumer_max_records": 1000}
    assert (
        ServiceSettings.for_service("console", defaults=own, database_url=url).consumer_max_records
        == 1000
    )
    assert ServiceSettings.for_service("console", database_url=url).consumer_max_records == 200
    monkeypatch.setenv("CONSOLE_CONSUMER_MAX_RECORDS", "300")
    assert (
        ServiceSettings.for_service("console", defaults=own, database_url=url).consumer_max_records
        == 300
    )
    overridden = ServiceSettings.for_service(
        "console", defaults=own, database_url=url, consumer_max_records=50
    )
    assert overridden.consumer_max_records == 50
    monkeypatch.setenv("CONSOLE_CONSUMER_MAX_RECORDS", "0")
    with pytest.raises(ValueError, match="consumer_max_records"):  # its bounds still hold
        ServiceSettings.for_service("console", defaults=own, database_url=url)


def test_a_hosts_environment_and_topic_prefix_variables_are_not_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Many CI hosts set ENVIRONMENT; it once switched the production profile on (or refused to
    # start). Only ORDERFLOW_ENV and KAFKA_TOPIC_PREFIX configure Orderflow.
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("TOPIC_PREFIX", "zz.")
    settings = ServiceSettings.for_service("cart", database_url="postgresql://x@y/z")
    assert (settings.environment, settings.topic_prefix) == ("development", "")
    assert KafkaToolProfile().environment == "development"

    monkeypatch.setenv("ORDERFLOW_ENV", "production")
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", "p.")
    settings = ServiceSettings.for_service("cart", database_url="postgresql://x@y/z")
    assert (settings.environment, settings.topic_prefix) == ("production", "p.")
    assert KafkaToolProfile().environment == "production"
    # In code the field names still work.
    named = ServiceSettings.for_service(
        "cart", database_url="postgresql://x@y/z", topic_prefix="t."
    )
    assert named.topic_prefix == "t."
