"""UUID version 7 (RFC 9562): a millisecond timestamp followed by random bits, for the ids the
services store in B-trees as they make them (event ids, ledger transactions, shipments).

Every consumer keeps the event ids it applied in a B-tree (its inbox; the console's events and
links).
Random (version 4) ids land on random pages of those indexes, and after each checkpoint every
page first touched is written to the WAL whole; ids that grow with time are appended instead.
Measured on PostgreSQL 15 with an inbox of a million rows: 12.4 µs and 765 bytes of WAL per
inserted id with version 4, 6.3 µs and 225 bytes with version 7 (decision 53). Python's ``uuid``
module has no version 7 before 3.14.
"""

from __future__ import annotations

import os
import time
from uuid import UUID

_VERSION_7: int = 0x7 << 76
_VARIANT_RFC: int = 0b10 << 62
_LOW_62_BITS: int = (1 << 62) - 1


def uuid7() -> UUID:
    """A fresh id: unique, and normally after any id made a millisecond earlier in sort order
    (not if the system clock steps back)."""
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")  # 80 bits: 12 for rand_a, 62 for rand_b
    rand_a, rand_b = random >> 68, random & _LOW_62_BITS
    return UUID(int=(milliseconds << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT_RFC | rand_b)
