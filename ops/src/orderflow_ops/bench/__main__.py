from orderflow_ops.bench.cli import app

app()
