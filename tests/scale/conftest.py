"""The scale-out tests run only when selected: each takes a minute or two on two cores."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def only_when_selected(request: pytest.FixtureRequest) -> None:
    markexpr = str(request.config.getoption("-m", default="") or "")
    if "multi_instance" not in markexpr and os.environ.get("ORDERFLOW_MULTI_INSTANCE") != "1":
        pytest.skip("minutes long: run with -m multi_instance (make test-multi-instance)")
