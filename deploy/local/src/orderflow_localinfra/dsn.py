"""PostgreSQL connection URLs: built from parts, or derived from another URL's address."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

_SCHEMES = ("postgresql", "postgres")


def database_url(*, user: str, password: str, host: str, port: int, database: str) -> str:
    """A `postgresql://` URL, with user and password percent-encoded."""
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{_bracket_ipv6(host)}:{port}/{quote(database, safe='')}"
    )


def with_credentials(url: str, *, user: str, password: str) -> str:
    """`url` with its user and password replaced; host, port, database and options kept."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            f"expected a postgresql:// URL, got scheme {parts.scheme!r} "
            "(key=value connection strings are not supported here)"
        )
    address = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{address}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database on the same server, with the same credentials."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"expected a postgresql:// URL, got scheme {parts.scheme!r}")
    return urlunsplit(
        (parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, parts.fragment)
    )


def redact(url: str) -> str:
    """`url` with the password masked, for logs and status output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, address = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit((parts.scheme, f"{user}:***@{address}", parts.path, parts.query, ""))


def _bracket_ipv6(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
