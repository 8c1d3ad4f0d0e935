from orderflow_ops.cli import app

app()
