"""The payment use cases, as plain functions bound to their dependencies in ``bootstrap``.

* event handlers ``(event, uow, *, providers, settings, sleep)``: ``authorisation``,
  ``stock``, ``cancellation``, ``refunds`` — each in the consumer's unit of work, after the
  order's lock, so a fact that arrives twice (in two messages, or at two instances at once)
  moves money once;
* the job ``expiry`` ``(transactions, *, ...)``, one unit of work per expired authorisation;
* reads: ``queries`` (HTTP) and ``reconciliation`` (CLI).

The movements they share (capture, void, refund, and the provider calls under them, retried
with backoff) are in ``_movements``.
"""
