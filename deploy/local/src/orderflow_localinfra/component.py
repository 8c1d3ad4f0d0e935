"""What `status` reports about one server."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    pid: int | None
    address: str
    version: str | None
    log_files: tuple[Path, ...]
    data_dir: Path
    details: dict[str, str] = field(default_factory=dict)
