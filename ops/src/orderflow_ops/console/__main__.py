from orderflow_ops.console.cli import app

app()
