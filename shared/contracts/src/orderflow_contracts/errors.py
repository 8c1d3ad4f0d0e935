"""Errors raised when a message does not honour the contract.

Each carries a short machine `code` and a human `reason`; both go into dead letters. Reasons
name the offending field and the rule it broke but never repeat the offending value, which could
be a card number or other personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

from pydantic_core import ErrorDetails

MAX_LISTED_ERRORS: Final = 10
MAX_MESSAGE_LENGTH: Final = 160


class ContractError(Exception):
    """A message that breaks the contract. Permanent: retrying it cannot help."""

    default_code: ClassVar[str] = "contract_error"

    def __init__(self, reason: str, *, code: str | None = None) -> None:
        super().__init__(reason)
        self.code: str = code or self.default_code
        self.reason: str = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class MalformedEnvelope(ContractError):
    """The bytes are not an envelope: not UTF-8 or not JSON (`malformed_json`), or a JSON value
    that is not an object or whose envelope fields are missing or mistyped (`invalid_envelope`).
    """

    MALFORMED_JSON: ClassVar[str] = "malformed_json"
    INVALID_ENVELOPE: ClassVar[str] = "invalid_envelope"
    default_code = INVALID_ENVELOPE


class UnknownEventType(ContractError):
    """The envelope names an event type this version of the contract does not define."""

    default_code = "unknown_event_type"

    def __init__(self, event_type: str) -> None:
        shown = event_type if len(event_type) <= 100 else event_type[:100] + "..."
        super().__init__(f"unknown event_type {shown!r}")
        self.event_type = event_type


class UnsupportedSchemaVersion(ContractError):
    """The envelope's schema_version is not one this version of the contract reads."""

    default_code = "unsupported_schema_version"

    def __init__(self, event_type: str, schema_version: int, supported: int) -> None:
        super().__init__(
            f"{event_type} schema_version {schema_version} is not supported "
            f"(this consumer reads version {supported})"
        )
        self.event_type = event_type
        self.schema_version = schema_version


class InvalidEventData(ContractError):
    """The envelope's `data` does not validate against its event type."""

    default_code = "invalid_event_data"

    def __init__(self, event_type: str, errors: Sequence[ErrorDetails]) -> None:
        super().__init__(f"{event_type}: {summarize_errors(errors, prefix=('data',))}")
        self.event_type = event_type
        #: (location, error type) pairs, for programs; no input values.
        self.errors: tuple[tuple[tuple[str | int, ...], str], ...] = tuple(
            (("data", *error["loc"]), error["type"]) for error in errors
        )


def summarize_errors(errors: Sequence[ErrorDetails], *, prefix: tuple[str, ...] = ()) -> str:
    """Pydantic errors as one line: `data.lines.0.quantity: Input should be a valid integer; ...`.

    Only locations and messages are used, never the input values.
    """
    parts: list[str] = []
    for error in errors[:MAX_LISTED_ERRORS]:
        location = ".".join(str(part) for part in (*prefix, *error["loc"]))
        message = error["msg"]
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[: MAX_MESSAGE_LENGTH - 3] + "..."
        parts.append(f"{location}: {message}" if location else message)
    hidden = len(errors) - MAX_LISTED_ERRORS
    if hidden > 0:
        parts.append(f"and {hidden} more error{'s' if hidden > 1 else ''}")
    return "; ".join(parts)
