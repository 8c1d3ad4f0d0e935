"""A service as its ``bootstrap.py`` describes it (:class:`ServiceDefinition`), its units of
work, and what its HTTP routes are given: what the runtime (:mod:`orderflow_chassis.runtime`)
and the service's CLI commands run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import asyncpg
from fastapi import APIRouter

from orderflow_chassis.clock import Clock, OffsetClock, SystemClock
from orderflow_chassis.consumer import Subscription
from orderflow_chassis.database import Connection
from orderflow_chassis.migrations import Migration
from orderflow_chassis.outbox import Outbox
from orderflow_chassis.settings import ServiceSettings
from orderflow_chassis.unit_of_work import DatabaseTransactions, RepositoryFactory, Transactions


@dataclass(frozen=True)
class RuntimeResources:
    """What HTTP routes may use (``request.app.state.resources``): routes open their units of
    work with ``resources.transactions.begin()``."""

    settings: ServiceSettings
    pool: asyncpg.Pool
    outbox: Outbox
    transactions: DatabaseTransactions[Any]


BackgroundJob = Callable[[Transactions[Any]], Awaitable[None]]
"""A service's job (see :func:`orderflow_chassis.periodic.every`): it opens its own units of
work, one per batch, so a crash mid-round loses nothing."""


def _no_repositories(_: Connection) -> None:
    return None


@dataclass(frozen=True)
class ServiceDefinition:
    """A service, as its ``bootstrap.py`` describes it: what to migrate, its repositories (one
    factory, bound to each unit of work's connection), its clock, and its use cases bound to
    their dependencies as handlers, routes and jobs."""

    name: str
    migrations: Sequence[Migration] = ()
    repositories: RepositoryFactory[Any] = _no_repositories
    clock: Clock = field(default_factory=SystemClock)
    subscriptions: Sequence[Subscription] = ()
    routers: Sequence[APIRouter] = ()
    background_jobs: Sequence[BackgroundJob] = ()
    start_up_jobs: Sequence[BackgroundJob] = ()
    """Run to completion, one after the other, before any consumer starts and before the
    HTTP routes (readiness included) are served: what the first event needs in place, such
    as fulfillment's seed stock (else the first orders of a fresh install find none)."""
    description: str = ""
    on_stop: Sequence[Callable[[], Awaitable[None]]] = ()
    """Closes what the service opened itself (a provider's connections, HTTP clients), after
    consuming and the jobs have stopped."""
    max_request_body_bytes: int = 0
    """The largest request body a route takes (the console's forms); 0, the default: no route
    takes one, and any body is refused (413) before it is read or screened."""
    production_refusals: Sequence[str] = ()
    """The service's own reasons not to start under ``ORDERFLOW_ENV=production`` (payment's
    sandbox provider), reported with the chassis's (see production_profile.py)."""


def service_transactions(
    definition: ServiceDefinition, settings: ServiceSettings, pool: asyncpg.Pool
) -> DatabaseTransactions[Any]:
    """The service's units of work on ``pool``: its repositories and clock, emitting into its
    outbox (for the runtime and the service's CLI commands alike)."""
    outbox = Outbox(
        settings.db_schema, producer=definition.name, topic_prefix=settings.topic_prefix
    )
    clock = definition.clock
    if settings.clock_offset_s:
        clock = OffsetClock(clock, timedelta(seconds=settings.clock_offset_s))
    return DatabaseTransactions(
        pool,
        definition.repositories,
        outbox,
        clock,
        acquire_timeout_s=settings.db_acquire_timeout_s,
    )
