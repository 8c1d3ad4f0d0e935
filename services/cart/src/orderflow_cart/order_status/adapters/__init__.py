"""The order-status projection on PostgreSQL: its table, and the notifications of its changes."""
