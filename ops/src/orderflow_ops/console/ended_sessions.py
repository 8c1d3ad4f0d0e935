"""Sessions logged out of: the console's one piece of session state on the server.

A session cookie is signed, not stored (:mod:`orderflow_ops.console.auth`), so logging out
only asked the browser to forget it, and a copy (a shared machine, a proxy's log) went on
proving the session until it expired. Its nonce is kept here until then, for every instance
of the console; each page asks, by primary key.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from orderflow_chassis.database import acquired
from orderflow_chassis.settings import validate_identifier

from orderflow_ops.console.auth import Session


async def end_session(pool: asyncpg.Pool, schema: str, session: Session) -> None:
    """Record ``session`` as ended; the ended sessions that have expired since are dropped."""
    validate_identifier(schema)
    async with acquired(pool) as connection, connection.transaction():
        await connection.execute(f"DELETE FROM {schema}.ended_sessions WHERE expires_at < now()")
        await connection.execute(
            f"""
            INSERT INTO {schema}.ended_sessions (nonce, expires_at) VALUES ($1, $2)
            ON CONFLICT (nonce) DO NOTHING
            """,
            session.nonce,
            datetime.fromtimestamp(session.expires_at, UTC),
        )


async def has_ended(pool: asyncpg.Pool, schema: str, session: Session) -> bool:
    validate_identifier(schema)
    async with acquired(pool) as connection:
        return bool(
            await connection.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM {schema}.ended_sessions WHERE nonce = $1)",
                session.nonce,
            )
        )
