"""Dead letters: what could not be applied, with why, kept for inspection and replay.

A dead letter on ``<topic>.dlq`` carries the ORIGINAL value bytes (possibly redacted, see
:class:`~orderflow_chassis.errors.PermanentError`) and key, the original headers, and
``dlq.*`` headers saying why, where from and when. Keeping the value untouched means a
replay is just "publish value and original headers back to ``dlq.original_topic``".

A dead letter never carries a card number: when it is built, card numbers are redacted from
the key (identifier rule), the value (screened like any inbound record), header names and
values, and the reason, which may echo an id or a value; a header named for card data
(``cvv``...) keeps its name, not its value. The reason and every ``dlq.*`` header are text for
people, never replayed: what a reader does not see in them (NUL, which UTF-16 and UTF-32 put
beside every digit, other control characters, and U+FFFD, what bytes that are not UTF-8 read
as) is deleted before they are redacted, so digits on either side of it read as one number.

A redaction at the byte level finds only digits written as ASCII, so it is trusted only with
UTF-8 text holding no NUL byte, no ``\\u`` escape and no card number written with other
escapes (:func:`~orderflow_chassis.card_data_guard.screens_as_bytes`). A value that could not
be read as JSON (not JSON, too large, too deep), a key, a header name or a header value that
is not such text is withheld: the letter keeps ``[WITHHELD]`` in its place, ``dlq.withheld``
names what was withheld, and the reason says why. No digest of what was withheld is kept: a
short value is little more than its card number, and a known card prefix leaves 10^9 numbers
to try against a digest. Such a letter, like a truncated one, is not the original record and
is never replayed (:attr:`~orderflow_chassis.dlq_cli.StoredDeadLetter.unreplayable_because`);
the original is at ``dlq.original_topic``, partition and offset.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Final

from aiokafka import ConsumerRecord
from orderflow_contracts.card_data import redact_card_numbers, redact_card_numbers_in_bytes
from orderflow_contracts.topics import dead_letter_topic

from orderflow_chassis.card_data_guard import WITHHELD, kept_copy, screens_as_bytes
from orderflow_chassis.card_data_names import REDACTED_FIELD, names_card_data
from orderflow_chassis.errors import PermanentError

HEADER_PREFIX = "dlq."
WITHHELD_NAME = WITHHELD.decode()
WITHHELD_REASON = (
    " Parts of the record that could not be screened for card data as they were written (not"
    " JSON, too large or too deep to read as JSON, and not UTF-8 text free of NUL bytes, \\u"
    " escapes and escaped card numbers) were withheld from this dead letter: see dlq.withheld."
)


@dataclass(frozen=True)
class DeadLetter:
    original_topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Sequence[tuple[str, bytes]]
    error_code: str
    reason: str
    service: str
    consumer: str
    failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    notes: Mapping[str, str] = field(default_factory=dict)  # more dlq.* headers

    def __post_init__(self) -> None:
        # Runs again on every dataclasses.replace (bounded): each step must keep what an
        # earlier run made as it is (a placeholder, a redacted copy, the reason's sentence).
        parts = screened_parts(self.key, self.value, self.headers)
        reason = redacted_text(self.reason)
        notes = dict(self.notes)
        if parts.withheld:
            notes["withheld"] = ", ".join(parts.withheld)
            reason += "" if reason.endswith(WITHHELD_REASON) else WITHHELD_REASON
        redacted = {
            "key": parts.key,
            "value": parts.value,
            "headers": parts.headers,
            "reason": reason,
            "error_code": redact_card_numbers(self.error_code),
            "notes": notes,
        }
        for name, value in redacted.items():
            object.__setattr__(self, name, value)  # frozen: redacted once, when built

    @property
    def topic(self) -> str:
        return dead_letter_topic(self.original_topic)

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        """Original headers (minus stale dlq.* ones from an earlier failure) plus why; all of
        them with card numbers redacted (see the module docstring)."""
        kept = [(k, v) for k, v in self.headers if not k.startswith(HEADER_PREFIX)]
        why = {
            "error_code": self.error_code,
            "reason": self.reason,
            "service": self.service,
            "consumer": self.consumer,
            "failed_at": self.failed_at.isoformat().replace("+00:00", "Z"),
            "original_topic": self.original_topic,
            "original_partition": str(self.partition),
            "original_offset": str(self.offset),
            **self.notes,
        }
        return kept + [(HEADER_PREFIX + k, v.encode()) for k, v in why.items()]


@dataclass(frozen=True)
class ScreenedParts:
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]
    withheld: list[str]  # which parts are [WITHHELD]


def screened_parts(
    key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]
) -> ScreenedParts:
    """A record's key, value and headers as a dead letter may keep them: card numbers
    redacted, what cannot be screened withheld (see the module docstring). What a letter
    already kept comes back as it is, so a reader of a dead-letter topic (the console) applies
    it again to whatever another writer put there."""
    kept_key = None if key is None else _redacted_key(key)
    kept_value = kept_copy(value)
    kept_headers = [
        _redacted_detail(name, header_value)
        if name.startswith(HEADER_PREFIX)
        else _redacted_header(name, header_value)
        for name, header_value in headers
    ]
    withheld = [
        part
        for part, found in (
            ("value", kept_value == WITHHELD),
            ("key", kept_key == WITHHELD),
            ("header names", any(name == WITHHELD_NAME for name, _ in kept_headers)),
            ("header values", any(kept == WITHHELD for _, kept in kept_headers)),
        )
        if found
    ]
    return ScreenedParts(kept_key, kept_value, kept_headers, withheld)


def _redacted_detail(name: str, value: bytes) -> tuple[str, bytes]:
    """A ``dlq.*`` header: why a record failed, text no one decodes as JSON. Redacted as text,
    never withheld: a reason quoting a parser (``Invalid \\uXXXX escape``) is what ops read.
    Another writer may have put it there in UTF-16 (``4\\x001\\x00...``): see
    :func:`redacted_text`."""
    return name, redacted_text(value.decode("utf-8", "replace")).encode()


# Characters a reader of a reason does not see: control characters other than those read as
# spaces or line breaks (which separate a card number's groups, see card_data.SEPARATOR_CHARS),
# and U+FFFD, which replaces bytes that are not UTF-8.
_UNSEEN: Final = dict.fromkeys(
    [*range(0x00, 0x09), *range(0x0E, 0x1C), 0x1F, *range(0x7F, 0x85), *range(0x86, 0xA0), 0xFFFD]
)


def redacted_text(text: str) -> str:
    """Text for people (a reason, a ``dlq.*`` header) with what they do not see deleted and
    card numbers redacted: ``4\\x001\\x001...`` reads as ``4111...``."""
    return redact_card_numbers(text.translate(_UNSEEN))


def _redacted_key(key: bytes) -> bytes:
    if not screens_as_bytes(key):
        return WITHHELD
    return redact_card_numbers(key.decode("utf-8"), identifier=True).encode("utf-8")


def _redacted_header(name: str, value: bytes) -> tuple[str, bytes]:
    if names_card_data(name):
        kept = REDACTED_FIELD.encode()
    elif screens_as_bytes(value):
        kept = redact_card_numbers_in_bytes(value)
    else:
        kept = WITHHELD
    if not screens_as_bytes(name.encode("utf-8", "surrogatepass")):
        return WITHHELD_NAME, kept
    return redact_card_numbers(name), kept


def original_headers(headers: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Headers to send with a replayed message: the original ones, without the dlq.* ones."""
    return [(k, v) for k, v in headers if not k.startswith(HEADER_PREFIX)]


def failure_details(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    """The dlq.* headers of a dead letter as a plain dict (for inspection)."""
    return {
        k.removeprefix(HEADER_PREFIX): v.decode("utf-8", "replace")
        for k, v in headers
        if k.startswith(HEADER_PREFIX)
    }


def original_topic(details: dict[str, str], dlq_topic: str) -> str:
    """The topic a dead letter's record came from (and a replay publishes it to): the one its
    headers name, or else the dead-letter topic's own name without ``.dlq``."""
    return details.get("original_topic") or dlq_topic.removesuffix(".dlq")


# A dead letter must fit where the original came from: the broker's default record limit is
# 1 MiB (max.message.bytes), and the dead letter adds headers to the original bytes.
DEAD_LETTER_MAX_BYTES = 1_000_000
_KEPT_WHEN_TRUNCATED = 64 * 1024
_MAX_REASON = 2_000


def _size(letter: DeadLetter) -> int:
    headers = letter.kafka_headers()
    return (
        len(letter.value)
        + len(letter.key or b"")
        + sum(len(name) + len(value) for name, value in headers)
    )


def bounded(letter: DeadLetter, max_bytes: int = DEAD_LETTER_MAX_BYTES) -> DeadLetter:
    """``letter`` made to fit in ``max_bytes``: a long reason is cut, and when the record is
    still too large its value keeps only its first 64 KiB and its original headers are
    dropped, with ``dlq.truncated``, ``dlq.original_size`` and ``dlq.original_sha256`` saying
    what the original was (so it can be matched to the producer's copy)."""
    if len(letter.reason) > _MAX_REASON:
        letter = replace(letter, reason=letter.reason[:_MAX_REASON] + " [cut]")
    if _size(letter) <= max_bytes:
        return letter
    digest = hashlib.sha256(letter.value).hexdigest()
    return replace(
        letter,
        value=letter.value[:_KEPT_WHEN_TRUNCATED],
        key=(letter.key or b"")[:1024] if letter.key is not None else None,
        headers=[],
        notes={
            **letter.notes,
            "truncated": "true",
            "original_size": str(len(letter.value)),
            "original_sha256": digest,
            "original_headers": str(len(letter.headers)),
        },
    )


def dead_letter_of(
    record: ConsumerRecord,
    *,
    code: str,
    reason: str,
    service: str,
    consumer: str,
    error: BaseException | None = None,
) -> DeadLetter:
    """The dead letter of a consumed ``record``, bounded; its value is the redacted copy a
    screening refusal made, when there is one (the letter redacts whatever else it is given)."""
    value = record.value or b""
    if isinstance(error, PermanentError) and error.redacted_payload is not None:
        value = error.redacted_payload
    return bounded(
        DeadLetter(
            original_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=value,
            headers=[(name, header_value or b"") for name, header_value in record.headers or ()],
            error_code=code,
            reason=reason,
            service=service,
            consumer=consumer,
        )
    )
