from orderflow_payment.entrypoints.cli import app

app()
