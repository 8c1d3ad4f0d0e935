"""Size of the fuzz run, and the services' logs captured to a file the card scan reads.

Default size: ``DEFAULT_PER_TOPIC`` records per consumed topic (seconds, part of every test
run). Full size (``FULL_PER_TOPIC``): set ``ORDERFLOW_FUZZ_FULL=1``, or select the marker
with ``-m fuzz_full``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from orderflow_chassis.structured_logging import configure_logging

DEFAULT_PER_TOPIC = 300
FULL_PER_TOPIC = 10_000


@dataclass(frozen=True)
class FuzzSize:
    per_topic: int
    max_depth: int
    catch_up_s: float
    full: bool


def _full_size_requested(config: pytest.Config) -> bool:
    markexpr = str(config.getoption("-m", default="") or "")
    return os.environ.get("ORDERFLOW_FUZZ_FULL") == "1" or "fuzz_full" in markexpr


@pytest.fixture(scope="session")
def fuzz_size(pytestconfig: pytest.Config) -> FuzzSize:
    if _full_size_requested(pytestconfig):
        return FuzzSize(FULL_PER_TOPIC, max_depth=50_000, catch_up_s=900, full=True)
    return FuzzSize(DEFAULT_PER_TOPIC, max_depth=5_000, catch_up_s=45, full=False)


@pytest.fixture(scope="module")
def captured_log_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every log line of the services (structlog and the standard library) goes to a file,
    as JSON, the way a deployed service writes them."""
    path = tmp_path_factory.mktemp("hostile-logs") / "services.log"
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    with path.open("w", encoding="utf-8", errors="backslashreplace") as stream:
        configure_logging("hostile-test", level="INFO", stream=stream, cache_loggers=False)
        try:
            yield path
        finally:
            root.handlers[:] = saved_handlers
            root.setLevel(saved_level)
            structlog.reset_defaults()
