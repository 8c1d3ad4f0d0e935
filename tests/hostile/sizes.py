"""Whether a hostile run was asked for at full size (the CI runs a smaller one)."""

from __future__ import annotations

import os

import pytest


def full_size_requested(config: pytest.Config) -> bool:
    """``ORDERFLOW_FUZZ_FULL=1``, or the ``fuzz_full`` marker selected (``-m fuzz_full``)."""
    markexpr = str(config.getoption("-m", default="") or "")
    return os.environ.get("ORDERFLOW_FUZZ_FULL") == "1" or "fuzz_full" in markexpr
