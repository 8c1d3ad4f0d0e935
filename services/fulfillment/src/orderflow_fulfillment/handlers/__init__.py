"""Fulfillment's use cases: plain async functions, one module per use case or close group.

Event handlers take ``(event, uow, *, dependencies)``, queries and commands
``(arguments..., uow, *, dependencies)``, jobs ``(transactions, *, dependencies)``;
``bootstrap.py`` binds the dependencies once. Each runs in one transaction (a job, one per
batch): what it changes and the events it emits commit together.

Every handler is idempotent at the domain level too (not only through the inbox): a state is
checked under a row lock before it changes, because the same fact can reach us twice through
different messages (a warehouse re-sending a report with a new event id, a payment outcome
racing an order on another topic). What does not fit the current state is recorded in the
``anomalies`` table, never applied half-way. Only a missing configuration (a warehouse we do
not know) is a dead letter: ops add the warehouse and replay it.
"""
