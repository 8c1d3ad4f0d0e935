"""The declared topics (``deploy/topics.yaml``): every topic with its partitions, replication
and retention, loaded and validated once.

The same file drives ``orderflow-topics apply``, the services' start-up check (and their
creation of missing topics in development) and the Kubernetes generator. A bad file fails with
every problem listed by position (``topics[3].partitions: ...``), never with a traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from orderflow_contracts.topics import DEAD_LETTER_SUFFIX
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

TOPICS_FILE_ENV = "KAFKA_TOPICS_FILE"
"""Where the declared topics are, when not in the repository's ``deploy/topics.yaml``."""

TopicKind = Literal["public", "internal", "dead-letter"]
CleanupPolicy = Literal["delete", "compact", "compact,delete"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_ACTOR = re.compile(r"^[a-z][a-z0-9_-]*$")


class TopicCatalogError(ValueError):
    """The topics file is missing, unreadable or invalid; ``problems`` says what, where."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: invalid topics file:\n{listed}")


class _Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partitions: int | None = Field(default=None, ge=1, le=10_000)
    replication_factor: int | None = Field(default=None, ge=1, le=32)
    min_insync_replicas: int | None = Field(default=None, ge=1, le=32)
    retention_ms: int | None = Field(default=None, ge=-1, description="-1: kept forever")
    cleanup_policy: CleanupPolicy | None = None


class _Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partitions: int = Field(ge=1, le=10_000)
    replication_factor: int = Field(ge=1, le=32)
    min_insync_replicas: int = Field(ge=1, le=32)
    retention_ms: int = Field(ge=-1)
    cleanup_policy: CleanupPolicy


class _Declaration(_Overrides):
    name: str = Field(pattern=_NAME, max_length=200)
    kind: TopicKind
    producers: list[str] = Field(default_factory=list)
    consumers: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _kind_matches_name(self) -> _Declaration:
        is_dead_letter_name = self.name.endswith(DEAD_LETTER_SUFFIX)
        if is_dead_letter_name != (self.kind == "dead-letter"):
            raise ValueError(
                f"{self.name!r}: kind is {self.kind!r}, but dead-letter topics (and only they) "
                f"end with {DEAD_LETTER_SUFFIX!r}"
            )
        for actor in (*self.producers, *self.consumers):
            if not _ACTOR.fullmatch(actor):
                raise ValueError(f"{actor!r} is not a service or actor name (lowercase, a-z0-9_-)")
        return self


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: _Defaults
    topics: list[_Declaration] = Field(min_length=1)


@dataclass(frozen=True)
class DeclaredTopic:
    """One topic, the defaults applied; ``name`` is the contract name (no test prefix)."""

    name: str
    kind: TopicKind
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    partitions: int
    replication_factor: int
    min_insync_replicas: int
    retention_ms: int
    cleanup_policy: CleanupPolicy

    def kafka_configs(self) -> dict[str, str]:
        """The topic-level configs Kafka is given (and compared against for drift)."""
        return {
            "min.insync.replicas": str(self.min_insync_replicas),
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
        }


@dataclass(frozen=True)
class TopicCatalog:
    source: str
    defaults: DeclaredTopic
    """The defaults, as a topic named ``*``: what an undeclared topic (a test's own) gets."""
    declared: Mapping[str, DeclaredTopic]

    def __iter__(self) -> Iterator[DeclaredTopic]:
        return iter(self.declared.values())

    @property
    def names(self) -> list[str]:
        return sorted(self.declared)

    def spec_for(self, name: str) -> DeclaredTopic:
        """The declaration of ``name`` (a contract name), or the defaults for an undeclared one."""
        found = self.declared.get(name)
        if found is not None:
            return found
        kind: TopicKind = "dead-letter" if name.endswith(DEAD_LETTER_SUFFIX) else "internal"
        return _replace_name(self.defaults, name, kind)


def default_topics_file() -> Path:
    """``$KAFKA_TOPICS_FILE``, else the repository's ``deploy/topics.yaml`` (found from this
    module in a checkout, else from the working directory)."""
    configured = os.environ.get(TOPICS_FILE_ENV)
    if configured:
        return Path(configured)
    in_checkout = Path(__file__).resolve().parents[4] / "deploy" / "topics.yaml"
    return in_checkout if in_checkout.is_file() else Path.cwd() / "deploy" / "topics.yaml"


def load_topic_catalog(path: Path | None = None) -> TopicCatalog:
    """Read and validate the topics file; :class:`TopicCatalogError` lists every problem."""
    path = path or default_topics_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TopicCatalogError(
            str(path),
            [f"cannot read it ({error.strerror or error}); set {TOPICS_FILE_ENV} to its path"],
        ) from None
    return parse_topic_catalog(text, source=str(path))


def parse_topic_catalog(text: str, *, source: str = "<topics>") -> TopicCatalog:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TopicCatalogError(source, [f"not valid YAML: {error}"]) from None
    try:
        parsed = _CatalogFile.model_validate(raw)
    except ValidationError as error:
        raise TopicCatalogError(source, [_describe(e) for e in error.errors()]) from None

    problems: list[str] = []
    declared: dict[str, DeclaredTopic] = {}
    for index, entry in enumerate(parsed.topics):
        topic = _resolve(parsed.defaults, entry)
        where = f"topics[{index}] ({entry.name})"
        if topic.name in declared:
            problems.append(f"{where}: declared twice")
        if topic.min_insync_replicas > topic.replication_factor:
            problems.append(
                f"{where}: min_insync_replicas {topic.min_insync_replicas} is above "
                f"replication_factor {topic.replication_factor}: no write could ever succeed"
            )
        declared[topic.name] = topic
    for name, topic in declared.items():
        if topic.kind != "dead-letter" and name + DEAD_LETTER_SUFFIX not in declared:
            problems.append(f"{name}: its dead-letter topic {name + DEAD_LETTER_SUFFIX} is missing")
    defaults = _resolve(parsed.defaults, _Declaration(name="defaults", kind="internal"))
    if defaults.min_insync_replicas > defaults.replication_factor:
        problems.append("defaults: min_insync_replicas is above replication_factor")
    if problems:
        raise TopicCatalogError(source, problems)
    return TopicCatalog(source=source, defaults=defaults, declared=declared)


def _resolve(defaults: _Defaults, entry: _Declaration) -> DeclaredTopic:
    def pick(name: str) -> int | str:
        value = getattr(entry, name)
        return getattr(defaults, name) if value is None else value  # type: ignore[no-any-return]

    return DeclaredTopic(
        name=entry.name,
        kind=entry.kind,
        producers=tuple(entry.producers),
        consumers=tuple(entry.consumers),
        partitions=int(pick("partitions")),
        replication_factor=int(pick("replication_factor")),
        min_insync_replicas=int(pick("min_insync_replicas")),
        retention_ms=int(pick("retention_ms")),
        cleanup_policy=entry.cleanup_policy or defaults.cleanup_policy,
    )


def _replace_name(topic: DeclaredTopic, name: str, kind: TopicKind) -> DeclaredTopic:
    return DeclaredTopic(
        name=name,
        kind=kind,
        producers=(),
        consumers=(),
        partitions=topic.partitions,
        replication_factor=topic.replication_factor,
        min_insync_replicas=topic.min_insync_replicas,
        retention_ms=topic.retention_ms,
        cleanup_policy=topic.cleanup_policy,
    )


def _describe(error: Mapping[str, object]) -> str:
    location = ""
    for part in error.get("loc", ()):  # type: ignore[attr-defined]
        location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else part)
    message = str(error.get("msg", "invalid"))
    return f"{location or 'file'}: {message}"
