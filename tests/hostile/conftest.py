"""Size of the fuzz run, and the services' logs captured to a file the card scan reads.

Default size: ``DEFAULT_PER_TOPIC`` records per consumed topic (seconds, part of every test
run; every family of hostile record is in it). Full size (``FULL_PER_TOPIC``): set
``ORDERFLOW_FUZZ_FULL=1``, or select the marker with ``-m fuzz_full``; the database-fault
runs then publish their full number of journeys too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import structlog
from orderflow_chassis.structured_logging import configure_logging

from tests.hostile.sizes import full_size_requested

DEFAULT_PER_TOPIC = 200
FULL_PER_TOPIC = 10_000


@dataclass(frozen=True)
class FuzzSize:
    per_topic: int
    max_depth: int
    catch_up_s: float
    full: bool


@pytest.fixture(scope="session")
def fuzz_size(pytestconfig: pytest.Config) -> FuzzSize:
    if full_size_requested(pytestconfig):
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
