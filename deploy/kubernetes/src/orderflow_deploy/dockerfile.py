"""A small reader of a Dockerfile, for the checks of deploy/container/Dockerfile that need no
Docker engine: instructions per stage, continuation lines joined, comments dropped (enough for
that one file, not a general parser)."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    @property
    def words(self) -> list[str]:
        return shlex.split(self.arguments)


@dataclass
class Stage:
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def instructions(text: str) -> list[Instruction]:
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    parsed = []
    for line in logical:
        keyword, _, arguments = line.partition(" ")
        parsed.append(Instruction(keyword.upper(), re.sub(r"\s+", " ", arguments).strip()))
    return parsed


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.words
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            found.append(Stage(name))
        elif found:
            found[-1].instructions.append(instruction)
    return found


def pruned_paths(text: str) -> list[str]:
    """site-packages paths the builder removes: the `rm -r` between the prune markers."""
    block = text.split("# prune-start", 1)[1].split("# prune-end", 1)[0]
    (command,) = (i for i in instructions(block) if i.keyword == "RUN")
    first_step = command.arguments.split("&&")[0].split()
    assert first_step[:2] == ["rm", "-r"], first_step
    return first_step[2:]


def workspace_members(repo: Path) -> list[Path]:
    """The uv workspace's member folders, as the root pyproject.toml lists them."""
    root = tomllib.loads((repo / "pyproject.toml").read_text())
    members: list[Path] = []
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        members += sorted(p for p in repo.glob(pattern) if (p / "pyproject.toml").is_file())
    return members


def scripts(member: Path) -> dict[str, str]:
    """A member's console scripts: name -> ``module:attribute``."""
    project = tomllib.loads((member / "pyproject.toml").read_text())["project"]
    found: dict[str, str] = project.get("scripts", {})
    return found


def project_name(member: Path) -> str:
    name: str = tomllib.loads((member / "pyproject.toml").read_text())["project"]["name"]
    return name
