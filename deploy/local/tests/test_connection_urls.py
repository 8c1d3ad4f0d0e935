"""Building PostgreSQL URLs (no database needed)."""

from urllib.parse import unquote, urlsplit

import pytest
from orderflow_localinfra.dsn import database_url, redact, with_credentials


def test_url_from_parts() -> None:
    url = database_url(user="u", password="p", host="127.0.0.1", port=15432, database="orderflow")
    assert url == "postgresql://u:p@127.0.0.1:15432/orderflow"


def test_special_characters_in_passwords_are_percent_encoded() -> None:
    password = "p@ss:w/rd?#%"
    url = database_url(user="u", password=password, host="db", port=5432, database="orderflow")
    assert unquote(urlsplit(url).password or "") == password
    assert urlsplit(url).hostname == "db"


def test_ipv6_hosts_are_bracketed() -> None:
    url = database_url(user="u", password="p", host="::1", port=5432, database="d")
    assert url == "postgresql://u:p@[::1]:5432/d"


def test_credentials_are_replaced_and_everything_else_kept() -> None:
    admin = "postgresql://admin:secret@db.internal:6432/orders?sslmode=require"
    assert with_credentials(admin, user="orderflow_cart", password="pw") == (
        "postgresql://orderflow_cart:pw@db.internal:6432/orders?sslmode=require"
    )


def test_credentials_are_added_to_a_url_without_any() -> None:
    assert with_credentials("postgres://db/orders", user="u", password="p") == (
        "postgres://u:p@db/orders"
    )


def test_other_schemes_are_refused() -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        with_credentials("mysql://a:b@db/x", user="u", password="p")


def test_redaction_hides_only_the_password() -> None:
    assert redact("postgresql://u:secret@h:1/d") == "postgresql://u:***@h:1/d"
    assert redact("postgresql://h:1/d") == "postgresql://h:1/d"
