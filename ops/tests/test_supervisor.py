"""The run command's supervisor, with fake processes and a fake clock: restart with backoff,
count restarts, give up only on repeated fast crashes."""

from __future__ import annotations

from dataclasses import dataclass, field

from orderflow_ops.progress import ProgressCounts
from orderflow_ops.supervisor import GaveUp, RestartPolicy, Supervisor


@dataclass
class FakeProcess:
    name: str
    exited_with: int | None = None
    starts: int = 1
    restarted_at: list[float] = field(default_factory=list)
    clock: list[float] = field(default_factory=lambda: [0.0])
    lifetime_s: float | None = None  # dies by itself this long after each start

    def exit_code(self) -> int | None:
        started = self.restarted_at[-1] if self.restarted_at else 0.0
        if self.lifetime_s is not None and self.clock[0] - started >= self.lifetime_s:
            return 1
        return self.exited_with

    def restart(self) -> None:
        self.exited_with = None
        self.starts += 1
        self.restarted_at.append(self.clock[0])


class FakeClock:
    def __init__(self) -> None:
        self.now = [0.0]

    def __call__(self) -> float:
        return self.now[0]

    def advance(self, seconds: float) -> None:
        self.now[0] += seconds


def _run(supervisor: Supervisor, clock: FakeClock, seconds: float) -> GaveUp | None:
    """Poll every 0.25 s of fake time (exact in binary), as the run command polls every 0.5 s."""
    for _ in range(round(seconds * 4)):
        clock.advance(0.25)
        gave_up = supervisor.poll()
        if gave_up is not None:
            return gave_up
    return None


def test_the_delay_doubles_up_to_its_cap() -> None:
    policy = RestartPolicy(first_delay_s=1, max_delay_s=30)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30


def test_a_dead_service_is_restarted_after_a_delay_that_doubles_with_each_crash() -> None:
    clock = FakeClock()
    cart = FakeProcess("cart", clock=clock.now)
    payment = FakeProcess("payment", clock=clock.now)
    supervisor = Supervisor([cart, payment], RestartPolicy(), clock=clock)

    for expected_delay in (1.0, 2.0, 4.0):
        cart.exited_with = -9
        seen_dead_at = clock() + 0.25  # the next poll
        assert _run(supervisor, clock, 5) is None
        assert cart.restarted_at[-1] - seen_dead_at == expected_delay

    assert supervisor.restarts == {"cart": 3, "payment": 0}
    assert payment.starts == 1


def test_a_service_that_ran_a_whole_window_starts_again_from_the_first_delay() -> None:
    clock = FakeClock()
    cart = FakeProcess("cart", clock=clock.now)
    supervisor = Supervisor([cart], RestartPolicy(), clock=clock)
    for _ in range(3):
        cart.exited_with = 1
        _run(supervisor, clock, 5)

    _run(supervisor, clock, 61)  # ran fine for longer than the crash window
    cart.exited_with = 1
    seen_dead_at = clock() + 0.25
    _run(supervisor, clock, 2)

    assert cart.restarted_at[-1] - seen_dead_at == 1.0


def test_five_fast_crashes_stop_everything_with_the_reason() -> None:
    clock = FakeClock()
    cart = FakeProcess("cart", clock=clock.now)
    supervisor = Supervisor([cart], RestartPolicy(), clock=clock)

    outcomes = []
    for _ in range(5):  # a crash every 10 s: restarted after 1, 2, 4, 8 s
        cart.exited_with = 3
        outcomes.append(_run(supervisor, clock, 10))

    assert outcomes[:4] == [None] * 4
    gave_up = outcomes[4]
    assert gave_up is not None
    assert gave_up.service is cart
    assert gave_up.reason.startswith("cart crashed 5 times within 60s (last exit code 3)")
    assert supervisor.restarts == {"cart": 4}


def test_a_service_that_refuses_to_start_stops_everything_at_once() -> None:
    # Exit 2 names a setting to fix (a seed file that never appeared, after a minute): it was
    # restarted for ever, never crashing fast enough to count as broken.
    clock = FakeClock()
    fulfillment = FakeProcess("fulfillment", clock=clock.now)
    supervisor = Supervisor([fulfillment], RestartPolicy(), clock=clock)
    fulfillment.exited_with = 2

    gave_up = _run(supervisor, clock, 1)

    assert gave_up is not None
    assert gave_up.reason.startswith("fulfillment refused to start (exit code 2)")
    assert supervisor.restarts == {"fulfillment": 0}


def test_crashes_spread_beyond_the_window_never_stop_the_system() -> None:
    clock = FakeClock()
    cart = FakeProcess("cart", clock=clock.now, lifetime_s=15)  # dies 15 s after each start
    supervisor = Supervisor([cart], RestartPolicy(), clock=clock)

    assert _run(supervisor, clock, 600) is None
    assert supervisor.restarts["cart"] >= 10


def test_restarts_are_shown_per_service_in_the_table_and_the_progress_line() -> None:
    counts = ProgressCounts(restarts={"cart": 0, "payment": 2})

    rows = dict(counts.rows())
    table_labels = [cell for cell in counts.table().columns[0].cells]

    assert rows["cart restarts"] == 0
    assert rows["payment restarts"] == 2
    assert "payment restarts" in table_labels
    assert counts.one_line() == "payment restarts=2"
