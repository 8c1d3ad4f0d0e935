"""``orderflow-topics apply``: create the declared topics that are missing, report drift.

    orderflow-topics apply                   # deploy/topics.yaml (or $KAFKA_TOPICS_FILE)
    orderflow-topics apply --dry-run         # say what would be created, create nothing
    orderflow-topics apply --fail-on-drift   # exit 1 when an existing topic differs

Idempotent: a second run creates nothing. Existing topics are never changed (see
topic_provisioning.py). In development (``ORDERFLOW_ENV`` unset) replication is capped at the
broker count with a warning; under ``ORDERFLOW_ENV=production`` it never is, and declared
topics replicated fewer than 3 times are refused.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from orderflow_chassis.kafka_security import (
    KafkaSecurity,
    KafkaSettingsError,
    kafka_client_options,
)
from orderflow_chassis.kafka_tool_profile import (
    DEVELOPMENT_BOOTSTRAP,
    KafkaToolProfile,
    kafka_tool_refusals,
)
from orderflow_chassis.production_profile import declared_topic_refusals
from orderflow_chassis.topic_catalog import TopicCatalog, TopicCatalogError, load_topic_catalog
from orderflow_chassis.topic_provisioning import (
    TopicPlan,
    TopicPlanError,
    broker_count,
    create_topics,
    live_topics,
    plan_topics,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The declared Kafka topics")


@app.callback()
def _topics() -> None:
    """The declared Kafka topics (deploy/topics.yaml)."""


@dataclass(frozen=True)
class ApplyReport:
    plan: TopicPlan
    brokers: int
    created: list[str]


async def apply_declared_topics(
    catalog: TopicCatalog,
    bootstrap_servers: str,
    *,
    prefix: str = "",
    dry_run: bool = False,
    cap_to_brokers: bool = True,
    partitions_override: int | None = None,
) -> ApplyReport:
    """Compare the catalog with the broker and create what is missing (unless ``dry_run``)."""
    # Security from the environment (KAFKA_SECURITY_PROTOCOL...), like every other client.
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **kafka_client_options())
    await admin.start()
    try:
        brokers = await broker_count(admin)
        live = await live_topics(admin, [prefix + name for name in catalog.names])
        plan = plan_topics(
            list(catalog),
            live,
            prefix=prefix,
            broker_count=brokers,
            cap_to_brokers=cap_to_brokers,
            partitions_override=partitions_override,
        )
        if not dry_run:
            await create_topics(admin, plan.to_create)
        return ApplyReport(plan, brokers, [] if dry_run else [t.name for t in plan.to_create])
    finally:
        await admin.close()


@app.command()
def apply(
    file: Annotated[
        Path | None, typer.Option(help="topics file (default: $KAFKA_TOPICS_FILE or deploy/)")
    ] = None,
    bootstrap_servers: Annotated[
        str | None,
        typer.Option(
            envvar="KAFKA_BOOTSTRAP_SERVERS", help="default in development: 127.0.0.1:19092"
        ),
    ] = None,
    prefix: Annotated[
        str,
        typer.Option(envvar="KAFKA_TOPIC_PREFIX", help="prepended to every name (test runs)"),
    ] = "",
    partitions: Annotated[
        int | None, typer.Option(min=1, help="development only: this many partitions per topic")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="report only; create nothing")] = False,
    fail_on_drift: Annotated[
        bool, typer.Option(help="exit 1 when an existing topic differs from its declaration")
    ] = False,
) -> None:
    """Create the declared topics that are missing; report drift, which it never changes."""
    try:
        profile = KafkaToolProfile()
        security = KafkaSecurity.from_environment()
        catalog = load_topic_catalog(file)
    except (ValidationError, KafkaSettingsError, TopicCatalogError) as error:
        _refuse([str(error)])
    production = profile.production
    refusals = declared_topic_refusals(catalog) if production else []
    refusals += kafka_tool_refusals(bootstrap_servers, security, profile)
    if production and partitions is not None:
        refusals.append("--partitions is for development; production uses the declared counts")
    if refusals:
        _refuse(refusals, production=True)
    servers = bootstrap_servers or DEVELOPMENT_BOOTSTRAP
    try:
        report = asyncio.run(
            apply_declared_topics(
                catalog,
                servers,
                prefix=prefix,
                dry_run=dry_run,
                cap_to_brokers=not production,
                partitions_override=partitions,
            )
        )
    except TopicPlanError as error:
        _refuse(error.problems, production=production)
    _print_report(catalog, servers, report, production=production, dry_run=dry_run)
    if fail_on_drift and report.plan.drift:
        raise typer.Exit(code=1)


def _print_report(
    catalog: TopicCatalog, servers: str, report: ApplyReport, *, production: bool, dry_run: bool
) -> None:
    plan = report.plan
    profile = "production" if production else "development"
    typer.echo(f"{catalog.source} -> {servers} ({report.brokers} broker(s), {profile} profile)")
    for warning in plan.warnings:
        typer.echo(f"warning: {warning}", err=True)
    verb = "would create" if dry_run else "created"
    for topic in plan.to_create:
        configs = " ".join(f"{k}={v}" for k, v in topic.configs.items())
        typer.echo(
            f"{verb}: {topic.name} ({topic.partitions} partitions, replication "
            f"{topic.replication_factor}, {configs})"
        )
    if plan.drift:
        typer.echo("drift (not changed):")
        for drift in plan.drift:
            typer.echo(f"  {drift.describe()}")
    typer.echo(
        f"{len(plan.to_create)} {verb}, {len(plan.up_to_date)} up to date, "
        f"{len({d.topic for d in plan.drift})} drifted"
    )


def _refuse(problems: list[str], *, production: bool = False) -> NoReturn:
    heading = "ORDERFLOW_ENV=production refuses: " if production else ""
    typer.echo(f"orderflow-topics: {heading}nothing was created:", err=True)
    for problem in problems:
        typer.echo(f"  - {problem}", err=True)
    raise typer.Exit(code=2)
