"""Test topics of earlier sessions, removed from the local broker before a new session.

Every test runs on its own topic prefix (``test-<label>-<id>.`` or ``test.<label>.<id>``), and
a service creates every topic it uses, dead-letter topics included, at start: one session adds
thousands of partitions. Kept across sessions they grow without bound until the local broker's
heap (``orderflow-infra``'s 1 GiB) runs out. Only names starting ``test-`` or ``test.`` are
touched, and only on the local broker this package runs, never on a configured cluster.
"""

from __future__ import annotations

import logging
import re
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient

logger = logging.getLogger(__name__)

TEST_TOPIC: Final = re.compile(r"^test[-.]")
_CHUNK: Final = 500


async def delete_test_topics(bootstrap_servers: str, pattern: re.Pattern[str] = TEST_TOPIC) -> int:
    """Delete every topic whose name ``pattern`` matches (default: a test's); returns how many
    were asked to go."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        doomed = sorted(t for t in await admin.list_topics() if pattern.match(t))
        for start in range(0, len(doomed), _CHUNK):
            await admin.delete_topics(doomed[start : start + _CHUNK])
    finally:
        await admin.close()
    if doomed:
        logger.info("deleted %d test topics left by earlier sessions", len(doomed))
    return len(doomed)
