"""The ops console: one live web page for the people who run the pipeline.

``orderflow-console run`` (or ``make run``, which starts it with the services). See
:mod:`orderflow_ops.console.app` for how it is put together.
"""
