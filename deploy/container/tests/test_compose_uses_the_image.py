"""docker-compose.yml runs the production image the way the image expects to be run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
COMPOSE: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
BUILT = {
    name: service
    for name, service in COMPOSE["services"].items()
    if service.get("build", {}).get("dockerfile") == "deploy/container/Dockerfile"
}
LONG_RUNNING = sorted(name for name, s in BUILT.items() if s["command"][-1] == "run")


def test_the_four_services_and_the_provisioning_job_use_the_image() -> None:
    assert {"cart", "payment", "fulfillment", "returns"} <= set(LONG_RUNNING)
    assert BUILT["provision"]["command"] == ["orderflow-infra", "provision"]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_a_service_runs_read_only_with_a_writable_tmp(name: str) -> None:
    assert BUILT[name]["read_only"] is True
    assert "/tmp" in BUILT[name]["tmpfs"]  # noqa: S108 (a tmpfs of its own)


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_the_image_healthcheck_can_tell_the_port(name: str) -> None:
    # deploy/container/healthcheck.py needs exactly one <SERVICE>_HTTP_PORT, bound beyond
    # loopback so the published port answers too.
    environment = BUILT[name]["environment"]
    ports = [key for key in environment if re.fullmatch(r"[A-Z][A-Z0-9_]*_HTTP_PORT", key)]
    assert ports == [f"{name.upper()}_HTTP_PORT"]
    assert environment[f"{name.upper()}_HTTP_HOST"] == "0.0.0.0"  # noqa: S104
    assert "healthcheck" not in BUILT[name], "the image's own HEALTHCHECK applies"


def test_the_one_shot_job_has_no_healthcheck() -> None:
    assert BUILT["provision"]["healthcheck"] == {"disable": True}
