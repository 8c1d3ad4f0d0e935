"""``make run`` starts the console beside the services, with a login made for the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from orderflow_ops.console.auth import Role, parse_users
from orderflow_ops.system import ServiceProcess, console_process


def _services(tmp_path: Path) -> list[ServiceProcess]:
    return [
        ServiceProcess(name, 8001 + i, tmp_path / f"{name}.log")
        for i, name in enumerate(("cart", "payment"))
    ]


def test_a_fresh_operator_password_is_made_for_each_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CONSOLE_USERS", raising=False)
    console, env, how = console_process(_services(tmp_path), 8000, tmp_path)
    _, again, _ = console_process(_services(tmp_path), 8000, tmp_path)
    (operator,) = parse_users(env["CONSOLE_USERS"]).values()
    assert operator.role is Role.OPERATOR
    assert how == f"log in as operator, password {operator.password}"
    assert again["CONSOLE_USERS"] != env["CONSOLE_USERS"]
    assert env["CONSOLE_SERVICES"] == "cart=http://127.0.0.1:8001,payment=http://127.0.0.1:8002"
    assert console.base_url == "http://127.0.0.1:8000"
    assert console.module == "orderflow_ops.console"


def test_users_given_in_the_environment_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONSOLE_USERS", "ada:operator:pw")
    _, env, how = console_process(_services(tmp_path), 8000, tmp_path)
    assert "CONSOLE_USERS" not in env  # the process inherits the environment's
    assert how == "log in as a user of CONSOLE_USERS"
