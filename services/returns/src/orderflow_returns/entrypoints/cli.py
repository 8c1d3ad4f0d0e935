"""``orderflow-returns run | migrate | rmas | retry-refund | warranty-policy``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from orderflow_chassis.service_cli import ServiceDatabase, service_cli, with_service_database
from orderflow_contracts.policies import AfterSalesPolicy

from orderflow_returns.bootstrap import (
    SERVICE_NAME,
    OpsUseCases,
    build_definition,
    ops_use_cases,
    service_dependencies,
)
from orderflow_returns.domain.rma import RmaState
from orderflow_returns.handlers.refunds import RetryOutcome
from orderflow_returns.ports import RmaQuery
from orderflow_returns.settings import ReturnsSettings

app = service_cli(SERVICE_NAME, build_definition)


@app.command()
def rmas(
    state: Annotated[
        RmaState | None, typer.Option(help="only RMAs in this state, e.g. refund_failed")
    ] = None,
    order: Annotated[uuid.UUID | None, typer.Option(help="only this order's RMAs")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List RMAs as JSON lines, most recently changed first."""
    list_rmas = ops_use_cases(service_dependencies(ReturnsSettings())).list_rmas

    async def query(database: ServiceDatabase) -> list[dict[str, Any]]:
        async with database.transactions.begin(read_only=True) as uow:
            return await list_rmas(RmaQuery(state=state, order_id=order, limit=limit), uow)

    for row in with_service_database(SERVICE_NAME, build_definition, query):
        typer.echo(json.dumps(row, sort_keys=True))


@app.command("retry-refund")
def retry_refund(rma_id: uuid.UUID) -> None:
    """Request a refund_failed RMA's refund again: under a new refund id, or under its own after
    provider_unavailable, provider_not_configured or outcome_unknown (after outcome_unknown,
    check with the provider first); the ceiling still holds."""
    _run_refund_command(lambda ops: ops.retry_failed_refund, rma_id)


@app.command("release-refund")
def release_refund(refund_id: uuid.UUID) -> None:
    """The provider confirmed a refund that failed outcome_unknown was not paid: it stops
    holding room under the order's refund ceiling; its RMA is then retried under a new id."""
    _run_refund_command(lambda ops: ops.release_unpaid_refund, refund_id)


def _run_refund_command(
    chosen: Callable[[OpsUseCases], Callable[[uuid.UUID, Any], Awaitable[RetryOutcome]]],
    target: uuid.UUID,
) -> None:
    """Run one of ops' refund use cases in its own transaction; print its message, exit 1
    when it refused."""
    use_case = chosen(ops_use_cases(service_dependencies(ReturnsSettings())))

    async def run(database: ServiceDatabase) -> RetryOutcome:
        async with database.transactions.begin() as uow:
            return await use_case(target, uow)

    outcome = with_service_database(SERVICE_NAME, build_definition, run)
    typer.echo(outcome.message)
    if not outcome.ok:
        raise typer.Exit(code=1)


@app.command("warranty-policy")
def warranty_policy() -> None:
    """Print the effective warranty term per country of usage (AFTER_SALES_WARRANTY_POLICY_FILE,
    which the cart service shows as well)."""
    policy = AfterSalesPolicy.from_environment().warranty
    typer.echo(f"default: {policy.default_months} months ({policy.default_basis})")
    for country in sorted(policy.countries):
        months, basis = policy.countries[country]
        typer.echo(f"{country}: {months} months ({basis})")
