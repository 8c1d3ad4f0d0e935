"""Whether the outbox relay is fit to be called ready, from its own state and the lease's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orderflow_chassis.outbox_store import OutboxCounts
from orderflow_chassis.relay_lease import LeaseState


@dataclass(frozen=True)
class RelayHealth:
    """What readiness needs to know about the relay; ``healthy`` decides."""

    healthy: bool
    state: str
    leader: str | None
    seconds_since_a_leader: float | None
    counts: OutboxCounts

    def as_checks(self) -> dict[str, Any]:
        return {
            "outbox_relay": self.state,
            "outbox_relay_leader": self.leader,
            "outbox_relay_seconds_since_a_leader": (
                None
                if self.seconds_since_a_leader is None
                else round(self.seconds_since_a_leader, 1)
            ),
            "outbox_unsent": self.counts.pending,
            "outbox_parked": self.counts.parked,
        }


def judge_health(
    lease: LeaseState,
    counts: OutboxCounts,
    *,
    leading: bool,
    last_error: str | None,
    running_s: float,
    unready_after_s: float,
) -> RelayHealth:
    """Healthy unless this relay's last round failed (``last_error``) or no relay of the
    service has led for ``unready_after_s`` (this one's own running time counts as quiet
    until a first heartbeat is seen)."""
    age = lease.seconds_since_heartbeat
    quiet_for = running_s if age is None else min(age, running_s)
    state = "leader" if leading else "standby"
    healthy = last_error is None
    if last_error is not None:
        state = f"failing: {last_error}"
    elif quiet_for > unready_after_s:
        healthy = False
        state = f"no relay has led for {quiet_for:.0f}s (bound {unready_after_s:.0f}s)"
    return RelayHealth(healthy, state, lease.leader_name, age, counts)
