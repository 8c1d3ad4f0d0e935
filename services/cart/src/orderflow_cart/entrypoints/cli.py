"""``orderflow-cart run`` / ``orderflow-cart migrate``."""

from orderflow_chassis.service_cli import service_cli

from orderflow_cart.bootstrap import SERVICE_NAME, build_definition

app = service_cli(SERVICE_NAME, build_definition)
