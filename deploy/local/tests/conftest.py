# The session fixture every integration test here uses (see orderflow_localinfra.pytest_plugin).
from orderflow_localinfra.pytest_plugin import orderflow_infrastructure

__all__ = ["orderflow_infrastructure"]
