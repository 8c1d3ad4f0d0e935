"""The production profile of the ops tools that talk to Kafka (``orderflow-ops``,
``orderflow-dlq``, ``orderflow-topics``).

A tool reads and writes the same events as the services (orders, amounts, addresses), so under
``ORDERFLOW_ENV=production`` it refuses what a service refuses where it applies: an unencrypted
Kafka connection unless ``KAFKA_ALLOW_PLAINTEXT=true``, and a broker address left to the
development default (a tool that silently reads the local broker reports a healthy system
that is not the one asked about). Every refusal is listed at once, with what to set; the tool
exits 2 before it connects to anything.
"""

from __future__ import annotations

from typing import Literal, NoReturn

import typer
from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import SettingsConfigDict

from orderflow_chassis.kafka_security import KafkaSecurity, KafkaSettingsError
from orderflow_chassis.production_profile import ProductionProfileError, plaintext_kafka_refusals
from orderflow_chassis.settings import DocumentedSettings

DEVELOPMENT_BOOTSTRAP = "127.0.0.1:19092"


class KafkaToolProfile(DocumentedSettings):
    """The settings of the production profile a Kafka tool reads (the services' names)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    environment: Literal["development", "production"] = Field(
        default="development", validation_alias=AliasChoices("ORDERFLOW_ENV", "environment")
    )
    kafka_allow_plaintext: bool = Field(
        default=False,
        validation_alias=AliasChoices("KAFKA_ALLOW_PLAINTEXT", "kafka_allow_plaintext"),
    )

    @property
    def production(self) -> bool:
        return self.environment == "production"


def kafka_tool_refusals(
    bootstrap_servers: str | None, security: KafkaSecurity, profile: KafkaToolProfile
) -> list[str]:
    """What a tool may not run with in production (always empty in development).

    ``bootstrap_servers`` is None when neither ``--bootstrap-servers`` nor
    ``KAFKA_BOOTSTRAP_SERVERS`` gave one."""
    if not profile.production:
        return []
    refusals = []
    if bootstrap_servers is None:
        refusals.append(
            "KAFKA_BOOTSTRAP_SERVERS is not set (or give --bootstrap-servers): the development "
            f"default {DEVELOPMENT_BOOTSTRAP} is never used in production"
        )
    refusals += plaintext_kafka_refusals(
        security.security_protocol.value, allowed=profile.kafka_allow_plaintext
    )
    return refusals


def kafka_servers_for_tool(tool: str, bootstrap_servers: str | None) -> str:
    """The servers ``tool`` may use, or exit 2 with every refusal (and any invalid Kafka
    security setting, in every environment) on stderr."""
    try:
        profile = KafkaToolProfile()
        security = KafkaSecurity.from_environment()
    except (ValidationError, KafkaSettingsError) as error:
        _refuse(tool, str(error))
    refusals = kafka_tool_refusals(bootstrap_servers, security, profile)
    if refusals:
        typer.echo(str(ProductionProfileError(tool, refusals)), err=True)
        raise typer.Exit(code=2)
    return bootstrap_servers or DEVELOPMENT_BOOTSTRAP


def _refuse(tool: str, message: str) -> NoReturn:
    typer.echo(f"{tool}: cannot run: {message}", err=True)
    raise typer.Exit(code=2)
