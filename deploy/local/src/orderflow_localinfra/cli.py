"""`orderflow-infra`: real Kafka and PostgreSQL on this machine, without Docker."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import time
from collections.abc import Callable
from enum import StrEnum
from functools import wraps
from typing import Annotated, ParamSpec, TypeVar

import typer

from .blocking import run_to_completion
from .chromium import ensure_chromium
from .component import ComponentStatus
from .dsn import redact
from .errors import InfraError
from .kafka import KafkaSettings
from .local_stack import LocalStack
from .processes import tail
from .provisioning import (
    PROVISIONED_SERVICES,
    InvalidServiceName,
    provision_services,
    service_database_url,
)
from .secure_listener import (
    CLIENT_CERTIFICATES_ENV,
    DEFAULT_SECURE_PORT,
    SECURE_ENV,
    SECURE_PORT_ENV,
)

app = typer.Typer(
    help="Real Apache Kafka and PostgreSQL for Orderflow on this machine, without Docker. "
    "State, data and logs live in <repository>/.local-infra/.",
    no_args_is_help=True,
    add_completion=False,
)

P = ParamSpec("P")
R = TypeVar("R")

ServicesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--service",
        "-s",
        help="Service to provision (repeatable). Default: cart, payment, fulfillment, returns.",
    ),
]


class Component(StrEnum):
    kafka = "kafka"
    postgres = "postgres"


def explains_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Print an expected error (with its remedy) and exit 2, instead of a traceback."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except InfraError as error:
            typer.secho(f"error: {error.problem}", err=True, fg=typer.colors.RED)
            typer.echo(f"  what to do: {error.remedy}", err=True)
            raise typer.Exit(2) from error
        except InvalidServiceName as error:
            typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from error

    return run


SecureOption = Annotated[
    bool,
    typer.Option(
        "--secure",
        envvar=SECURE_ENV,
        help="Also a SASL_SSL listener (SCRAM user, generated certificates) on "
        f"${SECURE_PORT_ENV} (default {DEFAULT_SECURE_PORT}).",
    ),
]

ClientCertificatesOption = Annotated[
    bool,
    typer.Option(
        "--client-certificates",
        envvar=CLIENT_CERTIFICATES_ENV,
        help="The SASL_SSL listener also requires a client certificate signed by the local CA "
        "(mutual TLS, then SCRAM); implies --secure.",
    ),
]


def _kafka_settings(secure: bool, client_certificates: bool) -> KafkaSettings:
    return KafkaSettings.from_environment(
        secure=secure or client_certificates, client_certificates=client_certificates
    )


@app.command()
@explains_errors
def up(
    services: ServicesOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each server.")] = 120,
    secure: SecureOption = False,
    client_certificates: ClientCertificatesOption = False,
) -> None:
    """Start Kafka and PostgreSQL unless running, then provision each service. Idempotent."""
    began = time.monotonic()
    stack = LocalStack(kafka_settings=_kafka_settings(secure, client_certificates))
    report = stack.up(services=services or PROVISIONED_SERVICES, timeout=timeout)
    for name, action in report.actions.items():
        typer.echo(f"{name:<9} {action:<16} ({report.timings[name]:.1f} s)")
    typer.echo(f"kafka     {report.kafka_bootstrap_servers}")
    if (listener := stack.kafka.secure_listener) is not None:
        mutual = ", client certificate required" if listener.requires_client_certificate else ""
        address = f"{stack.kafka.settings.host}:{listener.port}"
        typer.echo(f"kafka     {address} (SASL_SSL, SCRAM{mutual})")
    typer.echo(f"postgres  {redact(report.admin_database_url or '')}")
    typer.echo(
        f"services  {', '.join(report.service_database_urls)} provisioned "
        f"({report.timings.get('provisioning', 0):.1f} s)"
    )
    typer.echo(
        f"ready in {time.monotonic() - began:.1f} s; export the settings with: "
        f'eval "$(uv run orderflow-infra env{_secure_flags(secure, client_certificates)})"'
    )


def _secure_flags(secure: bool, client_certificates: bool) -> str:
    if client_certificates:
        return " --client-certificates"
    return " --secure" if secure else ""


@app.command()
@explains_errors
def down() -> None:
    """Stop Kafka and PostgreSQL cleanly and wait for them to exit; data is kept."""
    began = time.monotonic()
    stopped = LocalStack().down()
    summary = ", ".join(stopped) if stopped else "nothing was running"
    typer.echo(f"stopped: {summary} ({time.monotonic() - began:.1f} s)")


@app.command()
@explains_errors
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show what runs, with pids, ports, versions and log files. Exit 1 unless both run."""
    statuses = LocalStack().status()
    if as_json:
        typer.echo(json.dumps([_status_as_dict(status) for status in statuses], indent=2))
    else:
        for component in statuses:
            _print_status(component)
    if not all(component.running for component in statuses):
        raise typer.Exit(1)


def _print_status(status: ComponentStatus) -> None:
    state = f"running (pid {status.pid})" if status.running else "stopped"
    color = typer.colors.GREEN if status.running else typer.colors.YELLOW
    typer.secho(f"{status.name}: {state}", fg=color, bold=True)
    rows = {
        "address": status.address,
        "version": status.version or "not installed",
        **status.details,
        "data": str(status.data_dir),
        "logs": "\n".join(f"{'':13}{path}" for path in status.log_files).lstrip(),
    }
    for key, value in rows.items():
        typer.echo(f"  {key:<10} {value}")


def _status_as_dict(status: ComponentStatus) -> dict[str, object]:
    return {
        "name": status.name,
        "running": status.running,
        "pid": status.pid,
        "address": status.address,
        "version": status.version,
        "data_dir": str(status.data_dir),
        "log_files": [str(path) for path in status.log_files],
        **status.details,
    }


@app.command()
@explains_errors
def provision(services: ServicesOption = None) -> None:
    """Create or refresh each service's schema and role on the server named by DATABASE_URL.

    For servers this tool did not start (docker-compose, a managed database). DATABASE_URL
    must name a role that may create roles and schemas.
    """
    admin_url = os.environ.get("DATABASE_URL")
    if not admin_url:
        raise InfraError(
            "DATABASE_URL is not set", "set it to an admin DSN, or use `up` for a local server"
        )
    urls = run_to_completion(provision_services(admin_url, services or PROVISIONED_SERVICES))
    for service, url in urls.items():
        typer.echo(f"{service}: {redact(url)}")


@app.command()
@explains_errors
def env(
    services: ServicesOption = None,
    secure: SecureOption = False,
    client_certificates: ClientCertificatesOption = False,
) -> None:
    """Print `export` lines for the connection settings: eval "$(orderflow-infra env)".

    With --secure, the Kafka settings are those of the SASL_SSL listener (`up --secure`);
    with --client-certificates, or when the running listener requires one, the generated
    client certificate and key too.
    """
    stack = LocalStack(kafka_settings=_kafka_settings(secure, client_certificates))
    admin_url = stack.postgres.settings.admin_database_url
    exports = {
        "KAFKA_BOOTSTRAP_SERVERS": stack.kafka.settings.bootstrap_servers,
        "DATABASE_URL": admin_url,
    }
    if (listener := stack.kafka.secure_listener) is not None:
        if not listener.password_file.is_file():
            raise InfraError(
                f"the SASL_SSL listener has no credentials yet ({listener.password_file})",
                f"start it with `orderflow-infra up{_secure_flags(secure, client_certificates)}`",
            )
        if stack.kafka.configured_client_auth() == "required":
            # Started with --client-certificates: its clients need the certificate, however
            # this command was asked.
            listener = dataclasses.replace(listener, client_auth="required")
        exports.update(listener.client_environment(stack.kafka.settings.host))
    for service in services or PROVISIONED_SERVICES:
        exports[f"{service.upper()}_DATABASE_URL"] = service_database_url(admin_url, service)
    for name, value in exports.items():
        typer.echo(f"export {name}={shlex.quote(value)}")


@app.command()
@explains_errors
def chromium() -> None:
    """Find the headless Chromium the browser tests drive; install Debian's package if missing."""
    found = ensure_chromium()
    how = f"installed now in {found.install_seconds:.0f}s" if found.installed_now else "found"
    typer.echo(f"{found.executable} ({found.version}; {how})")


@app.command()
@explains_errors
def logs(
    component: Annotated[Component | None, typer.Argument(help="Only this server's logs.")] = None,
    lines: Annotated[
        int, typer.Option("--tail", "-n", help="Also print the last N lines of each log.")
    ] = 0,
) -> None:
    """List the log files (with --tail N, print their last lines too)."""
    for status in LocalStack().status():
        if component is not None and status.name != component.value:
            continue
        for log_file in status.log_files:
            size = f"{log_file.stat().st_size:>10,} bytes" if log_file.exists() else "   (absent)"
            typer.echo(f"{status.name:<9} {size}  {log_file}")
            if lines > 0 and log_file.exists():
                typer.echo(tail(log_file, lines))


@app.command()
@explains_errors
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm deleting all local data.")] = False,
) -> None:
    """Stop both servers and delete their data and logs (the downloaded Kafka jars stay)."""
    if not yes:
        typer.echo("reset deletes every topic, database and log under .local-infra/", err=True)
        typer.echo("  run `orderflow-infra reset --yes` to confirm", err=True)
        raise typer.Exit(2)
    stack = LocalStack()
    stopped = stack.reset()
    typer.echo(
        f"stopped: {', '.join(stopped) or 'nothing was running'}; "
        f"deleted data and logs under {stack.layout.root}"
    )
