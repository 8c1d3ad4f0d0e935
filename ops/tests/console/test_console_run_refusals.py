"""``orderflow-console run`` refuses a bad start the way every service's ``run`` does: exit code
2 and one line naming what to fix, never a traceback. Nothing is reachable in these tests: each
refusal comes before the console needs its database. One runs as a real process, as an operator
would; the others through the CLI in-process (a process start costs seconds here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from orderflow_ops.console.cli import app
from typer.testing import CliRunner

from ops.tests.console.console_harness import closed_port

UNREACHABLE_DATABASE = "postgresql://orderflow_console:x@127.0.0.1:9/none"
PREFIX = "orderflow-console: cannot start: "


def assert_one_line_refusal(code: int, stderr: str, reason: str) -> None:
    assert code == 2, stderr[-2000:]
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(PREFIX), lines[0]
    assert reason in lines[0]


def run_in_process(monkeypatch: pytest.MonkeyPatch, **settings: str) -> tuple[int, str]:
    for name in list(os.environ):
        if name.startswith(("CONSOLE_", "KAFKA_", "ORDERFLOW_")):
            monkeypatch.delenv(name)
    for name, value in {"CONSOLE_DATABASE_URL": UNREACHABLE_DATABASE, **settings}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["run"])
    return result.exit_code, result.stderr


def test_a_bad_setting_stops_the_process_with_one_line_naming_it() -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CONSOLE_", "KAFKA_", "ORDERFLOW_"))
    }
    environment.update(CONSOLE_DATABASE_URL=UNREACHABLE_DATABASE, CONSOLE_PROBE_INTERVAL_S="-1")

    result = subprocess.run(
        [sys.executable, "-m", "orderflow_ops.console", "run"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert_one_line_refusal(
        result.returncode,
        result.stderr,
        "CONSOLE_PROBE_INTERVAL_S: Input should be greater than 0",
    )


def test_a_malformed_user_list_or_services_list_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, stderr = run_in_process(monkeypatch, CONSOLE_USERS="ada:admin:pw")
    assert_one_line_refusal(code, stderr, "CONSOLE_USERS: entry 1 has a role other")

    # Review (helper 109): an entry written in the wrong order or with other separators holds
    # its password where a role or name was echoed, into the service's log.
    for users in (
        "bob:viewer:pw-1,ada:Sup3rS3cretPassw0rd:operator",
        "ada=operator=Sup3rS3cret",
        "Sup3rS3cret:ada:operator",
    ):
        code, stderr = run_in_process(monkeypatch, CONSOLE_USERS=users)
        assert code != 0
        assert "CONSOLE_USERS: entry" in stderr
        assert "Sup3rS3cret" not in stderr

    code, stderr = run_in_process(monkeypatch, CONSOLE_SERVICES="cart=ftp://x")
    assert_one_line_refusal(code, stderr, "CONSOLE_SERVICES: 'cart=ftp://x'")


def test_an_unreachable_kafka_is_named_with_its_address(monkeypatch: pytest.MonkeyPatch) -> None:
    address = f"127.0.0.1:{closed_port()}"

    code, stderr = run_in_process(monkeypatch, KAFKA_BOOTSTRAP_SERVERS=address, LOG_LEVEL="ERROR")

    assert_one_line_refusal(
        code, stderr, f"no Kafka bootstrap server answered (PLAINTEXT): {address}"
    )


@pytest.mark.parametrize(("failure", "code"), [("its task outbox-relay crashed", 1), (None, 0)])
def test_stopped_on_its_own_it_exits_1_saying_why_asked_to_stop_0(
    monkeypatch: pytest.MonkeyPatch, failure: str | None, code: int
) -> None:
    """As every service's ``run`` (a supervisor restarting only on failure must see one)."""

    class Stops:
        def __init__(self, *_: object, **__: object) -> None:
            self.tasks_left_running: list[str] = []
            self.failure: str | None = None

        async def run_until_stopped(self) -> None:
            self.failure = failure

    monkeypatch.setattr("orderflow_ops.console.cli.ServiceRuntime", Stops)
    exit_code, stderr = run_in_process(monkeypatch)
    assert exit_code == code, stderr
    if failure is not None:
        assert stderr.strip() == f"orderflow-console: stopped: {failure}"
