"""The Orderflow microservice chassis.

Everything a service needs that is not its own domain: safe Kafka settings, the transactional
outbox and its relay, the inbox that makes consumers idempotent, dead letters, retries,
settings, structured logs, metrics, migrations and health. A service supplies its handlers and
its migrations; :class:`orderflow_chassis.runtime.ServiceRuntime` wires the rest.
"""

from orderflow_chassis.kafka_record_batches import read_header_names_tolerantly

# Every process that reads Kafka imports the chassis: one record whose header name is not UTF-8
# must not stall any of its consumers (see the module).
read_header_names_tolerantly()
