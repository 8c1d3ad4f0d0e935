"""Reads deploy/topics.yaml: every topic with its producers, consumers and settings.

The file's shape (defaults, then topics with optional per-topic overrides) is shared with the
topic apply command; this reader only needs what the Kubernetes resources are made of.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class TopicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partitions: int = Field(ge=1)
    replication_factor: int = Field(ge=1)
    min_insync_replicas: int = Field(ge=1)
    retention_ms: int = Field(ge=-1)
    cleanup_policy: Literal["delete", "compact", "compact,delete", "delete,compact"]


class DeclaredTopic(BaseModel):
    # Other keys (descriptions, keys...) are for other readers of the file: ignored here.
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,249}$")
    kind: Literal["public", "internal", "dead-letter"]
    producers: tuple[str, ...] = ()
    consumers: tuple[str, ...] = ()
    partitions: int | None = Field(default=None, ge=1)
    replication_factor: int | None = Field(default=None, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    retention_ms: int | None = Field(default=None, ge=-1)
    cleanup_policy: Literal["delete", "compact", "compact,delete", "delete,compact"] | None = None


class TopicFile(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    defaults: TopicSettings
    topics: tuple[DeclaredTopic, ...]


class Topic(BaseModel):
    """A declared topic with the defaults applied."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    settings: TopicSettings


class TopicCatalogError(ValueError):
    pass


def load_topics(path: Path) -> tuple[Topic, ...]:
    """Every topic of ``path``, in file order; TopicCatalogError says what is wrong and where."""
    try:
        raw = yaml.safe_load(path.read_text())
        parsed = TopicFile.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise TopicCatalogError(f"{path}: {error}") from error
    names = [topic.name for topic in parsed.topics]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise TopicCatalogError(f"{path}: topics declared twice: {', '.join(duplicates)}")
    resolved = []
    for declared in parsed.topics:
        overrides = {
            key: value
            for key, value in declared.model_dump(include=set(TopicSettings.model_fields)).items()
            if value is not None
        }
        settings = parsed.defaults.model_copy(update=overrides)
        if settings.min_insync_replicas > settings.replication_factor:
            raise TopicCatalogError(
                f"{path}: {declared.name}: min_insync_replicas {settings.min_insync_replicas} "
                f"exceeds replication_factor {settings.replication_factor}"
            )
        resolved.append(
            Topic(
                name=declared.name,
                kind=declared.kind,
                producers=declared.producers,
                consumers=declared.consumers,
                settings=settings,
            )
        )
    return tuple(resolved)
