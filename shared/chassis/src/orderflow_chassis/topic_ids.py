"""Kafka topic ids: which *life* of a topic an offset belongs to.

An offset only means something within one topic's life. A topic that is deleted and created
again under the same name (a cluster migration, an operator's clean-up) restarts at offset 0,
and a consumer position stored as a bare offset would then skip everything below it. Kafka
gives every topic a UUID at creation (KIP-516); consumer positions are stored with it.

aiokafka 0.14 speaks Metadata up to v5, which has no topic ids, so this module adds the v10
request (the first flexible version that returns them) on aiokafka's own protocol types.
"""

from __future__ import annotations

import uuid
from io import BytesIO
from typing import Any, ClassVar

import structlog
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

from orderflow_chassis.kafka_security import KafkaSecurity, kafka_client_options

log = structlog.get_logger(__name__)

_METADATA_API_KEY = 3
_NO_TOPIC_ID = uuid.UUID(int=0)


class _Uuid(AbstractType[uuid.UUID]):  # type: ignore[misc]
    @classmethod
    def encode(cls, value: uuid.UUID) -> bytes:
        return value.bytes

    @classmethod
    def decode(cls, data: BytesIO) -> uuid.UUID:
        raw = data.read(16)
        if len(raw) != 16:
            raise ValueError("Buffer underrun decoding a UUID")
        return uuid.UUID(bytes=raw)


class _MetadataResponseV10(Response):  # type: ignore[misc]
    API_KEY = _METADATA_API_KEY
    API_VERSION = 10
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("rack", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", CompactString("utf-8")),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


class _MetadataRequestV10(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = _METADATA_API_KEY
    API_VERSION = 10
    RESPONSE_TYPE = _MetadataResponseV10
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
            ),
        ),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _TopicIdsRequest(Request[_MetadataRequestV10]):  # type: ignore[misc]
    API_KEY = _METADATA_API_KEY
    _CLASSES: ClassVar[list[type[_MetadataRequestV10]]] = [_MetadataRequestV10]

    def __init__(self, topics: list[str]) -> None:
        self._topics = topics

    def build(self, request_struct_class: type[_MetadataRequestV10]) -> _MetadataRequestV10:
        return request_struct_class(
            [(_NO_TOPIC_ID, name, {}) for name in self._topics], False, False, False, {}
        )


async def fetch_topic_ids(
    bootstrap_servers: str, topics: list[str], security: KafkaSecurity | None = None
) -> dict[str, uuid.UUID]:
    """The id of each existing topic of ``topics`` (missing ones are left out)."""
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        client_id="orderflow-topic-ids",
        **kafka_client_options(security),
    )
    await client.bootstrap()
    try:
        response: Any = await client.send(client.get_random_node(), _TopicIdsRequest(topics))
    finally:
        await client.close()
    found: dict[str, uuid.UUID] = {}
    for error_code, name, topic_id, *_ in response.topics:
        if error_code == 0 and name is not None and topic_id != _NO_TOPIC_ID:
            found[name] = topic_id
    return found
