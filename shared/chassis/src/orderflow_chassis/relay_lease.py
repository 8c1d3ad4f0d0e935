"""Who may publish a service's outbox: a lease on the ``{schema}.relay_lock`` row.

Every publish round is one transaction that first locks that row (``FOR UPDATE NOWAIT``).
Publication is therefore fenced by the very transaction that holds the lock: a session that
dies mid-round (idle timeout, NAT drop, ``pg_terminate_backend``, a backend crash) aborts its
transaction, stamps nothing, and releases the row for another relay. Between rounds no
transaction is open, so vacuum is never held back.

Leadership is sticky. The row names the leading *session* (backend pid and start time) and its
last heartbeat, written when a quarter of the lease has passed (not every round: a busy relay
runs many rounds a second); another session takes over only when that session is gone from
``pg_stat_activity`` or its heartbeat is older than the lease (a hung leader, a half-open
connection). So two healthy relays never alternate, and a leader whose session was killed must
contend again like anyone else.

The row lives in the service's own schema, which only the service's role can reach: no other
service can take this lock, unlike a key in PostgreSQL's database-wide advisory-lock space.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from orderflow_chassis.database import Connection
from orderflow_chassis.settings import validate_identifier


class LeaseBusy(Exception):
    """Another session holds the lease row right now (its round, a takeover, an operator)."""


@dataclass(frozen=True)
class Session:
    """One database session of a relay; leadership belongs to it, not to the process."""

    pid: int
    backend_start: datetime
    name: str


@dataclass(frozen=True)
class LeaseState:
    leader_name: str | None
    seconds_since_heartbeat: float | None


async def open_session(connection: Connection, name: str) -> Session:
    row = await connection.fetchrow(
        "SELECT pid, backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    )
    assert row is not None, "pg_stat_activity always shows the current session"
    return Session(pid=row["pid"], backend_start=row["backend_start"], name=name)


def _lease_query(schema: str, *, lock: bool) -> str:
    # "free": nobody led yet, the leader's heartbeat is too old, or its session is gone (only
    # looked up in pg_stat_activity when the row is not this session's: CASE short-circuits).
    # "heartbeat_due": the leader's heartbeat is older than a quarter of the lease.
    return f"""
        SELECT mine,
               CASE WHEN mine THEN false
                    ELSE l.heartbeat_at IS NULL
                         OR l.heartbeat_at < clock_timestamp() - $3::interval
                         OR NOT EXISTS (
                             SELECT 1 FROM pg_stat_activity AS a
                             WHERE a.pid = l.leader_pid AND a.backend_start = l.leader_backend_start
                         )
               END AS free,
               l.heartbeat_at IS NULL
                   OR l.heartbeat_at < clock_timestamp() - $3::interval / 4 AS heartbeat_due
        FROM {schema}.relay_lock AS l,
             LATERAL (SELECT coalesce(l.leader_pid = $1 AND l.leader_backend_start = $2, false)
                      AS mine) AS m
        {"FOR UPDATE OF l NOWAIT" if lock else ""}
        """


@dataclass(frozen=True)
class Lease:
    """What :func:`take_lease` found: whether the session leads this round, and whether it
    must write its heartbeat (it is taking over, or the last one is a quarter-lease old)."""

    leading: bool
    heartbeat_due: bool = False


async def take_lease(
    connection: Connection, schema: str, session: Session, *, lease: timedelta, leading: bool
) -> Lease:
    """Inside the round's transaction: lock the row if ``session`` may lead; else standby.

    Raises :class:`LeaseBusy` when another session holds the row (the caller rolls back).
    A standby first looks without locking, so its checks never get in the leader's way.
    """
    validate_identifier(schema)
    args = (session.pid, session.backend_start, lease)
    if not leading:
        peek = await connection.fetchrow(_lease_query(schema, lock=False), *args)
        if peek is None or not (peek["mine"] or peek["free"]):
            return Lease(leading=False)
    try:
        row = await connection.fetchrow(_lease_query(schema, lock=True), *args)
    except asyncpg.LockNotAvailableError as error:
        raise LeaseBusy(str(error)) from error
    if row is None:
        raise RuntimeError(f"{schema}.relay_lock has no row: run the chassis migrations")
    if not (row["mine"] or row["free"]):
        return Lease(leading=False)
    return Lease(leading=True, heartbeat_due=not row["mine"] or row["heartbeat_due"])


async def heartbeat(connection: Connection, schema: str, session: Session) -> bool:
    """Record that ``session`` leads; returns True when it just took over."""
    validate_identifier(schema)
    took_over = await connection.fetchval(
        f"""
        UPDATE {schema}.relay_lock AS l
        SET leader_pid = $1,
            leader_backend_start = $2,
            leader_name = $3,
            leader_since = CASE WHEN mine THEN l.leader_since ELSE clock_timestamp() END,
            heartbeat_at = clock_timestamp()
        FROM (
            SELECT coalesce(leader_pid = $1 AND leader_backend_start = $2, false) AS mine
            FROM {schema}.relay_lock
        ) AS before
        RETURNING NOT before.mine
        """,
        session.pid,
        session.backend_start,
        session.name,
    )
    return bool(took_over)


async def lease_state(connection: Connection, schema: str) -> LeaseState:
    """When any relay of this service last led, seen from the database's clock."""
    validate_identifier(schema)
    row = await connection.fetchrow(
        f"""
        SELECT leader_name, extract(epoch FROM clock_timestamp() - heartbeat_at) AS age
        FROM {schema}.relay_lock
        """
    )
    if row is None:
        return LeaseState(None, None)
    age = row["age"]
    return LeaseState(row["leader_name"], None if age is None else float(age))
