"""The chaos tests use the end-to-end fixtures (the system as separate processes)."""

from tests.e2e.conftest import running_system, warehouse

__all__ = ["running_system", "warehouse"]
