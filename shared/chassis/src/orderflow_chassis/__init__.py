"""The Orderflow microservice chassis.

Everything a service needs that is not its own domain: safe Kafka settings, the transactional
outbox and its relay, the inbox that makes consumers idempotent, dead letters, retries,
settings, structured logs, metrics, migrations and health. A service supplies its handlers and
its migrations; :class:`orderflow_chassis.runtime.ServiceRuntime` wires the rest.
"""
