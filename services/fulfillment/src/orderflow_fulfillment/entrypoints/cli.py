"""``orderflow-fulfillment run`` / ``orderflow-fulfillment migrate``."""

from orderflow_chassis.service_cli import service_cli

from orderflow_fulfillment.bootstrap import SERVICE_NAME, build_definition

app = service_cli(SERVICE_NAME, build_definition)
