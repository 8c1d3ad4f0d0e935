"""Every environment variable the manifests set is one a process reads: a misspelt name would
be ignored silently and the setting left at its development default."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from orderflow_chassis.kafka_security import KafkaSecurity
from orderflow_chassis.settings import ServiceSettings
from orderflow_deploy.workloads import SERVICES
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[3]
WORKLOADS = REPO / "deploy" / "kubernetes" / "base" / "generated" / "workloads.yaml"


def environment_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice).upper() for choice in alias.choices}
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def read_by(service: str) -> set[str]:
    chassis = type(ServiceSettings.for_service(service, database_url="postgresql://x@h/x"))
    names = environment_names(chassis) | environment_names(KafkaSecurity)
    module = importlib.import_module(f"orderflow_{service}.settings")
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value is not BaseSettings
        ):
            names |= environment_names(value)
    return names


def deployment_env(name: str) -> dict[str, Any]:
    for document in yaml.safe_load_all(WORKLOADS.read_text()):
        if document and document["kind"] == "Deployment" and document["metadata"]["name"] == name:
            (container,) = document["spec"]["template"]["spec"]["containers"]
            return {entry["name"]: entry for entry in container["env"]}
    raise AssertionError(f"no Deployment {name}")


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_variable_a_service_is_given_is_read(service: str) -> None:
    given = set(deployment_env(f"orderflow-{service}"))
    # Only an input to the database URL ($(...) expansion), read by Kubernetes itself.
    given.discard(f"{service.upper()}_DB_PASSWORD")
    unread = given - read_by(service)
    assert not unread, f"orderflow-{service} sets variables nothing reads: {sorted(unread)}"


def test_the_database_password_is_used_in_the_url() -> None:
    for service in SERVICES:
        env = deployment_env(f"orderflow-{service}")
        url = env[f"{service.upper()}_DATABASE_URL"]["value"]
        assert f"$({service.upper()}_DB_PASSWORD)@" in url
        names = list(env)
        assert names.index(f"{service.upper()}_DB_PASSWORD") < names.index(
            f"{service.upper()}_DATABASE_URL"
        ), "Kubernetes expands $(NAME) only from variables declared before"
