"""Consumer lag of a run's groups: what each has yet to apply."""

from __future__ import annotations

from aiokafka import TopicPartition
from orderflow_ops.bench.lag import lag_by_group

ORDERS_0 = TopicPartition("p.orders", 0)
ORDERS_1 = TopicPartition("p.orders", 1)


def test_lag_is_the_end_offset_less_the_committed_one_over_each_groups_partitions() -> None:
    committed = {
        "p.returns": {ORDERS_0: 40, ORDERS_1: 7},
        "p.payment": {ORDERS_0: 100, ORDERS_1: 10},
    }

    lag = lag_by_group(committed, {ORDERS_0: 100, ORDERS_1: 10})

    assert lag == {"p.returns": 63, "p.payment": 0}


def test_a_partition_without_a_known_end_or_committed_past_it_adds_no_lag() -> None:
    assert lag_by_group({"g": {ORDERS_0: 5, ORDERS_1: 12}}, {ORDERS_1: 10}) == {"g": 0}
    assert lag_by_group({}, {ORDERS_0: 3}) == {}
