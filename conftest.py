# One session-wide Kafka + PostgreSQL fixture for every test suite in the workspace.
pytest_plugins = ["orderflow_localinfra.pytest_plugin"]
