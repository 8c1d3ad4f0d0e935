from orderflow_cart.entrypoints.cli import app

app()
