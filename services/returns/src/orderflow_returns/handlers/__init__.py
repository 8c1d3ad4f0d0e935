"""The returns service's use cases, one module per group.

Event handlers are ``(event, uow, *, dependencies)``; ops commands and queries
``(arguments..., uow)``. Each runs in one unit of work: its repositories share one transaction
with the events it emits, and ``uow.now`` is the time it started.

Every event handler first takes the order's lock, then applies a guarded change: a repeated
fact (the same event redelivered, or the same request sent again with a new event id) changes
nothing and emits nothing.
"""
