"""Prometheus metrics every service exposes on ``/metrics``.

Label sets stay small (service, topic, event type, outcome) so dashboards can show
throughput, dead letters and outbox backlog per service without exploding cardinality.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

# Handlers run in milliseconds; the default buckets (5 ms and up) would hide them.
_HANDLER_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

EVENTS_CONSUMED = Counter(
    "orderflow_events_consumed_total",
    "Consumed records by outcome: applied, duplicate, ignored (no handler), skipped_newer_version, "
    "dead_lettered, skipped_redelivery",
    ["service", "consumer", "topic", "event_type", "outcome"],
)
BATCH_SECONDS = Histogram(
    "orderflow_consumer_batch_seconds",
    "Time to apply one consumed batch in its database transaction",
    ["service", "consumer"],
)
BATCH_RETRIES = Counter(
    "orderflow_consumer_transient_retries_total",
    "Batches retried after a transient failure",
    ["service", "consumer"],
)
DEAD_LETTERS = Counter(
    "orderflow_dead_letters_total",
    "Records sent to a dead-letter topic, by reason code",
    ["service", "topic", "code"],
)
OUTBOX_PUBLISHED = Counter(
    "orderflow_outbox_published_total", "Outbox rows published to Kafka", ["service", "topic"]
)
OUTBOX_BACKLOG = Gauge(
    "orderflow_outbox_unsent", "Outbox rows committed but not yet published", ["service"]
)
RELAY_IS_LEADER = Gauge(
    "orderflow_outbox_relay_leader", "1 when this instance holds the relay lock", ["service"]
)
POSITION_MISMATCHES = Counter(
    "orderflow_consumer_position_mismatches_total",
    "Kafka's offsets and the stored consumer position disagreed: gap or another_life",
    ["service", "consumer", "topic", "kind"],
)
HANDLER_FAILURES = Counter(
    "orderflow_consumer_handler_failures_total",
    "Unexpected handler exceptions; the batch is retried, the record dead-lettered at the limit",
    ["service", "consumer", "event_type"],
)
INBOX_PURGED = Counter(
    "orderflow_inbox_purged_total", "Inbox rows deleted after their retention period", ["service"]
)
OUTBOX_PARKED_TOTAL = Counter(
    "orderflow_outbox_parked_total",
    "Outbox rows Kafka refused for good and that were parked for an operator",
    ["service", "topic"],
)
OUTBOX_PARKED = Gauge(
    "orderflow_outbox_parked_rows",
    "Outbox rows parked now (not published until un-parked)",
    ["service"],
)
OUTBOX_SEND_FAILURES = Counter(
    "orderflow_outbox_send_failures_total",
    "Outbox rows whose send failed in a round: refused (counts towards parking) or transient",
    ["service", "kind"],
)
CONSUMER_REWINDS_OWED = Gauge(
    "orderflow_consumer_rewinds_owed",
    "Partitions a failed fetch left to be sought back to what was applied; the consumer "
    "fetches nothing while any is (its lag gauge then stands still)",
    ["service", "consumer"],
)
OUTBOX_PAUSED_PARTITIONS = Gauge(
    "orderflow_outbox_paused_partitions",
    "Partitions the relay holds rows back for: Kafka did not acknowledge them in time",
    ["service"],
)
OUTBOX_UNKNOWN_TOPICS = Gauge(
    "orderflow_outbox_unknown_topics",
    "Topics the relay holds rows back for: Kafka does not have them (or cannot be reached)",
    ["service"],
)
CONSUMER_LAG = Gauge(
    "orderflow_consumer_lag",
    "Records on a partition not applied yet: the partition's high-water mark (from the "
    "consumer's own fetches) minus the next offset to apply",
    ["service", "consumer", "topic", "partition"],
)
HANDLER_SECONDS = Histogram(
    "orderflow_handler_seconds",
    "Time a handler took to apply one event (its database work included, the batch's not)",
    ["service", "event_type"],
    buckets=_HANDLER_BUCKETS,
)
# Periodic jobs (periodic.py). Not `job`: Prometheus' own target label has that name.
PERIODIC_LAST_SUCCESS = Gauge(
    "orderflow_periodic_job_last_success_timestamp_seconds",
    "Unix time the job's last successful round ended (when the job started, until one has)",
    ["service", "periodic_job"],
)
PERIODIC_INTERVAL = Gauge(
    "orderflow_periodic_job_interval_seconds",
    "Seconds between the job's rounds (what its last success's age compares to)",
    ["service", "periodic_job"],
)
PERIODIC_FAILED_ROUNDS = Counter(
    "orderflow_periodic_job_failed_rounds_total",
    "Rounds of the job that raised (transient or not); the next tick tries again",
    ["service", "periodic_job"],
)
PERIODIC_ITEMS_SKIPPED = Counter(
    "orderflow_periodic_job_items_skipped_total",
    "Items a round set aside because they failed alone for a reason that is not transient",
    ["service", "periodic_job"],
)

_SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
}


def exported_series() -> dict[str, frozenset[str]]:
    """Every sample name the metrics above export, with its label names: what dashboards and
    alert rules may use (the monitoring files are checked against it)."""
    series: dict[str, frozenset[str]] = {}
    for metric in globals().values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = frozenset(metric._labelnames)
        for suffix in _SAMPLE_SUFFIXES[str(metric._type)]:
            series[metric._name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series
