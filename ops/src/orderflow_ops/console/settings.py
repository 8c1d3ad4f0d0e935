"""The console's own settings, from ``CONSOLE_*`` environment variables (its database, HTTP
port and Kafka address are the chassis' ``ServiceSettings`` for service ``console``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderflow_ops.console.auth import parse_users
from orderflow_ops.invariants import Deadlines

# Production minimums: shorter passwords are guessable, a shorter session key forgeable.
MIN_PASSWORD_LENGTH = 12
MIN_SESSION_SECRET_LENGTH = 32


class ConsoleSettingsError(ValueError):
    """A console setting is malformed; the message names the variable and why."""


# The console's own defaults among the chassis' settings (``CONSOLE_*`` variables still win).
# A batch rewrites each order it holds an event of, once: fewer, larger batches cost less per
# order (the console's CPU per order fell about 8 % with 1,000 instead of 200; decision 48).
# Its fetches wait longer than a service's (up to 512 KiB or 500 ms): it reads every contract
# topic's partitions (96 of them), so answering its 20 fetches a second at 50 ms cost the broker
# about a quarter of a core with no order in flight (decision 49); idle, it wakes at the first
# record (decision 51). With the pause below, at most 0.8 s of the page's 2 s promise.
SERVICE_DEFAULTS = {
    "consumer_max_records": 1000,
    "consumer_fetch_min_bytes": 512 * 1024,
    "consumer_fetch_max_wait_ms": 500,
    # Its pause after each batch (batch_pause_s) would read as load: no longer wait for it.
    "consumer_fetch_loaded_max_wait_ms": 500,
}


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    users: str = Field(
        default="",
        description="who may log in: comma-separated name:role:password, role viewer or operator",
    )
    session_secret: str = Field(
        default="",
        description="signs session cookies; empty: random per process (logins end on restart)",
    )
    session_hours: float = Field(default=8.0, gt=0)
    cookie_secure: bool = Field(default=False, description="mark the cookie Secure (behind TLS)")
    services: str = Field(
        default="",
        description="the services to watch: comma-separated name=base URL of their HTTP port",
    )
    trace_url_template: str = Field(
        default="",
        description="a trace viewer's URL with {trace_id}, e.g. http://127.0.0.1:16686/trace/{trace_id}",
    )
    # With the fetch wait above, at most 0.8 s of the 2 s promise of a live page (the live
    # stream's 1 s coalescing and the page's own fetch take most of the rest). Measured: without
    # it, the console's CPU per order rose by a tenth (decision 51).
    batch_pause_s: float = Field(
        default=0.3,
        ge=0,
        description="after a batch that was not full, wait this long before the next poll, so "
        "that the next batch gathers more events (each batch has a fixed cost); 0: never wait",
    )
    probe_interval_s: float = Field(
        default=2.0, gt=0, description="lag and service probes, while a page is open"
    )
    unwatched_probe_interval_s: float = Field(
        default=15.0,
        gt=0,
        description="lag and service probes while no page is open (only pages show them); "
        "opening one probes at once",
    )
    monitor_interval_s: float = Field(default=5.0, gt=0, description="invariant monitor")
    service_timeout_s: float = Field(default=1.5, gt=0)
    live_max_open: int = Field(
        default=200,  # under CONSOLE_HTTP_MAX_CONNECTIONS: room for the pages they refresh
        ge=1,
        description="live-page streams one console instance serves at once; one more is "
        "refused with HTTP 503 and Retry-After",
    )
    live_max_lifetime_s: float = Field(
        default=900.0,
        gt=0,
        description="the server ends a live-page stream after this long (90-100 % of it), and "
        "at its session's expiry; the page reconnects, and its session is checked again",
    )
    retention_days: int = Field(
        default=90,
        ge=0,
        description="ended orders (completed, cancelled, ...) whose last event is older than "
        "this many days leave the read model with their timeline; 0 keeps them forever",
    )
    retention_batch_size: int = Field(default=500, ge=1, description="orders per transaction")
    retention_interval_s: float = Field(default=3600, gt=0, description="between passes")
    # A replay runs inside the operator's HTTP request: both bound it (decision 66).
    replay_send_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="a replayed dead letter Kafka has not acknowledged by then stops the replay "
        "request (HTTP 503); posting the confirmation again continues it",
    )
    replay_request_budget_s: float = Field(
        default=10.0,
        ge=0,
        description="a replay request sends no further dead letter after this long (at least "
        "one); the confirmation page then comes back with the rest, to continue",
    )
    # How long an order may wait in each state before it is listed as stuck (the SLAs).
    sla_payment_and_stock_s: float = Field(default=600, gt=0)
    sla_capture_s: float = Field(default=600, gt=0)
    sla_compensation_s: float = Field(default=600, gt=0)
    sla_shipment_s: float = Field(default=1800, gt=0)
    sla_delivery_s: float = Field(default=7200, gt=0)
    sla_checkout_answer_s: float = Field(default=60, gt=0)

    def deadlines(self) -> Deadlines:
        return Deadlines(
            payment_and_stock=timedelta(seconds=self.sla_payment_and_stock_s),
            capture=timedelta(seconds=self.sla_capture_s),
            compensation=timedelta(seconds=self.sla_compensation_s),
            shipment=timedelta(seconds=self.sla_shipment_s),
            delivery=timedelta(seconds=self.sla_delivery_s),
            checkout_answer=timedelta(seconds=self.sla_checkout_answer_s),
        )

    def production_refusals(self) -> list[str]:
        """What the console may not start with under ORDERFLOW_ENV=production (with the
        chassis' own refusals: plaintext Kafka, development database passwords...)."""
        refusals = []
        users = parse_users(self.users)  # a malformed entry is a start-up error everywhere
        if not users:
            refusals.append(
                "CONSOLE_USERS is not set: nobody could log in (`make run` generates an "
                "operator's password for development only); set name:role:password entries, "
                "the passwords from a secret (e.g. `openssl rand -hex 16`)"
            )
        # Named by their places: an entry written in the wrong order holds its password where
        # the name is expected, and this message goes to the log.
        weak = sorted(
            user.entry
            for user in users.values()
            if len(user.password) < MIN_PASSWORD_LENGTH
            or user.password.lower() in {user.name.lower(), user.role.value}
        )
        if weak:
            entries = ", ".join(str(entry) for entry in weak)
            refusals.append(
                f"CONSOLE_USERS: the password of entry {entries} is shorter than "
                f"{MIN_PASSWORD_LENGTH} characters or is the user's name or role; give each "
                "user a generated secret (e.g. `openssl rand -hex 16`)"
            )
        if len(self.session_secret) < MIN_SESSION_SECRET_LENGTH:
            state = "is not set" if not self.session_secret else "is too short"
            refusals.append(
                f"CONSOLE_SESSION_SECRET {state}: without one each process signs sessions with "
                "a key generated at start, so a restart logs everyone out and instances reject "
                f"each other's sessions; set at least {MIN_SESSION_SECRET_LENGTH} random "
                "characters from a secret (e.g. `openssl rand -hex 32`)"
            )
        if not self.cookie_secure:
            refusals.append(
                "CONSOLE_COOKIE_SECURE is false: the session cookie would also travel over plain "
                "HTTP; serve the console over TLS and set CONSOLE_COOKIE_SECURE=true"
            )
        return refusals

    def service_urls(self) -> dict[str, str]:
        """``services`` as name -> base URL; raises ConsoleSettingsError on a malformed entry."""
        urls: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in self.services.split(","))):
            name, sep, url = entry.partition("=")
            if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
                raise ConsoleSettingsError(
                    f"CONSOLE_SERVICES: {entry!r} is not name=http://host:port"
                )
            urls[name.strip()] = url.strip().rstrip("/")
        return urls


def sla_by_state(deadlines: Deadlines) -> dict[str, timedelta]:
    """The deadline of each waiting state of an order (see ``OrderFacts.state``)."""
    return {
        "awaiting_payment_and_stock": deadlines.payment_and_stock,
        "awaiting_capture": deadlines.capture,
        "awaiting_compensation": deadlines.compensation,
        "awaiting_shipment": deadlines.shipment,
        "in_transit": deadlines.delivery,
    }
