from orderflow_returns.entrypoints.cli import app

app()
