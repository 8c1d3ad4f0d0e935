from orderflow_fulfillment.entrypoints.cli import app

app()
