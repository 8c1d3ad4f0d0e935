"""SQL for the requests waiting for a delivery (``held_requests``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from orderflow_chassis.read_marks import stored_positions

from orderflow_returns.adapters._sql import SqlRepository
from orderflow_returns.adapters.orders import known_quiet, quiet_orders
from orderflow_returns.ports import HeldKey, HeldRequest, RequestKind


class SqlHeldRequests(SqlRepository):
    async def hold(self, request: HeldRequest) -> None:
        quiet = known_quiet(self.connection)
        if quiet is not None:
            quiet.without_held_requests.discard(request.order_id)
        await self.connection.execute(
            f"""
            INSERT INTO {self.s}.held_requests
                (order_id, kind, request_id, envelope, held_until, read_marks, failures)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (order_id, kind, request_id) DO NOTHING
            """,
            request.order_id,
            request.kind,
            request.request_id,
            request.envelope_json,
            request.held_until,
            None if request.read_marks is None else dict(request.read_marks),
            request.failures,
        )

    async def release(self, order_id: uuid.UUID) -> list[HeldRequest]:
        quiet = await quiet_orders(self.connection, self.s)
        if quiet is not None and order_id in quiet.without_held_requests:
            return []
        rows = await self.connection.fetch(
            f"""
            DELETE FROM {self.s}.held_requests WHERE order_id = $1
            RETURNING order_id, kind, request_id, envelope, held_until, read_marks, failures
            """,
            order_id,
        )
        return sorted(map(_held, rows), key=lambda held: held.held_until)

    async def due(
        self, now: datetime, limit: int, *, after: tuple[datetime, HeldKey] | None = None
    ) -> list[tuple[HeldKey, Mapping[str, int] | None, datetime]]:
        select = (
            f"SELECT order_id, kind, request_id, read_marks, held_until FROM {self.s}.held_requests"
        )
        order = "ORDER BY held_until, order_id, kind, request_id LIMIT $2"
        if after is None:
            rows = await self.connection.fetch(
                f"{select} WHERE held_until <= $1 {order}", now, limit
            )
        else:  # a row comparison the index (held_requests_pages) starts from
            since, (order_id, kind, request_id) = after
            rows = await self.connection.fetch(
                f"""
                {select} WHERE held_until <= $1
                  AND (held_until, order_id, kind, request_id) > ($3, $4, $5, $6) {order}
                """,
                now,
                limit,
                since,
                order_id,
                kind,
                request_id,
            )
        return [
            (
                (row["order_id"], cast(RequestKind, row["kind"]), row["request_id"]),
                row["read_marks"],
                row["held_until"],
            )
            for row in rows
        ]

    async def mark(self, keys: Sequence[HeldKey], marks: Mapping[str, int]) -> None:
        await self.connection.execute(
            f"""
            UPDATE {self.s}.held_requests AS h SET read_marks = $4
            FROM unnest($1::uuid[], $2::text[], $3::text[]) AS k(order_id, kind, request_id)
            WHERE (h.order_id, h.kind, h.request_id) = (k.order_id, k.kind, k.request_id)
              AND h.read_marks IS NULL
            """,
            [key[0] for key in keys],
            [key[1] for key in keys],
            [key[2] for key in keys],
            dict(marks),
        )

    async def read_positions(self, consumer: str) -> Mapping[str, int]:
        return await stored_positions(self.connection, self.s, consumer)

    async def take(
        self, order_id: uuid.UUID, kind: RequestKind, request_id: str
    ) -> HeldRequest | None:
        row = await self.connection.fetchrow(
            f"""
            DELETE FROM {self.s}.held_requests
            WHERE order_id = $1 AND kind = $2 AND request_id = $3
            RETURNING order_id, kind, request_id, envelope, held_until, read_marks, failures
            """,
            order_id,
            kind,
            request_id,
        )
        return None if row is None else _held(row)

    async def postpone(
        self,
        order_id: uuid.UUID,
        kind: RequestKind,
        request_id: str,
        until: datetime,
        *,
        failed: bool = False,
    ) -> int:
        failures = await self.connection.fetchval(
            f"""
            UPDATE {self.s}.held_requests
            SET held_until = $4, failures = failures + $5::int
            WHERE order_id = $1 AND kind = $2 AND request_id = $3
            RETURNING failures
            """,
            order_id,
            kind,
            request_id,
            until,
            int(failed),
        )
        return int(failures or 0)


def _held(row: Any) -> HeldRequest:
    return HeldRequest(
        order_id=row["order_id"],
        kind=row["kind"],
        request_id=row["request_id"],
        envelope_json=row["envelope"],
        held_until=row["held_until"],
        read_marks=row["read_marks"],
        failures=row["failures"],
    )
