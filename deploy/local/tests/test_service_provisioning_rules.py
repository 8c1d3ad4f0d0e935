"""Service names, roles, passwords and DSNs (no database needed)."""

import pytest
from orderflow_localinfra.provisioning import (
    MAX_SERVICE_NAME_LENGTH,
    InvalidServiceName,
    service_database_url,
    service_password,
    service_password_env_var,
    service_role,
    validate_service_name,
)

ADMIN_URL = "postgresql://orderflow_admin:orderflow_admin@127.0.0.1:15432/orderflow"


@pytest.mark.parametrize("name", ["cart", "payment", "fulfillment", "returns", "probe_a", "s3"])
def test_lowercase_identifiers_are_valid_service_names(name: str) -> None:
    assert validate_service_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Cart",
        "3d",
        "_cart",
        "cart-service",
        "cart service",
        'cart"; DROP ROLE x; --',
        "café",
        "public",
        "information_schema",
        "pg_catalog",
        "admin",
        "a" * (MAX_SERVICE_NAME_LENGTH + 1),
    ],
)
def test_unsafe_or_reserved_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidServiceName):
        validate_service_name(name)


def test_the_longest_name_still_fits_postgres_identifiers() -> None:
    name = "a" * MAX_SERVICE_NAME_LENGTH
    assert len(service_role(name)) == 63


def test_role_names_carry_the_orderflow_prefix() -> None:
    assert service_role("cart") == "orderflow_cart"


def test_password_defaults_to_the_local_development_one() -> None:
    assert service_password("cart", environ={}) == "cart-local-password"


def test_password_comes_from_the_service_environment_variable() -> None:
    assert service_password_env_var("probe_a") == "ORDERFLOW_PROBE_A_DB_PASSWORD"
    environ = {"ORDERFLOW_CART_DB_PASSWORD": "s3cret"}
    assert service_password("cart", environ=environ) == "s3cret"


def test_service_url_keeps_the_admin_address_with_the_service_credentials() -> None:
    assert service_database_url(ADMIN_URL, "cart", environ={}) == (
        "postgresql://orderflow_cart:cart-local-password@127.0.0.1:15432/orderflow"
    )
