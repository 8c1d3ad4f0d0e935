"""Every service's HTTP input is screened before a route sees it.

:func:`install_http_guards` adds :class:`HttpInputGuard`, an ASGI middleware that answers

* **400** when the path or the query string holds invalid percent-encoding, bytes that are not
  UTF-8 (lone surrogates included: they cannot be encoded in UTF-8) or a NUL character —
  PostgreSQL text cannot hold NUL, and a route passing it to a query failed with 500;
* **414** when the path and query string together are longer than ``MAX_TARGET_BYTES``;
* **413** when the body is larger than ``max_body_bytes`` (the service definition's
  ``max_request_body_bytes``: 0, no body at all, for the four services, whose routes take
  none; a few KiB for the console's forms), or when a GET, HEAD, DELETE or OPTIONS request
  has one at all (no route reads it);
* **408** when the body has not all arrived within ``body_timeout_s`` (a client trickling
  bytes would hold a connection, and its task, for as long as it likes), or within 2 s when
  the request may take none (a chunked body that is empty passes: proxies forward some so);
* **400** when the body is not UTF-8 text or holds a NUL byte (JSON and forms are UTF-8 and
  never hold one; UTF-16 would hide a card number's digits from a screen of bytes);
* **422** when a path segment (identifier rule), a query parameter name or value, a form
  field's name or value (decoded), or the body (screened like a Kafka record: JSON strings,
  keys and numbers, bounded in size and depth) holds a card number, when a JSON key of the body
  names card data (``cvv``, ``card_number``...), or when the body cannot be screened. The
  message never echoes the digits.

A request whose client leaves before sending its whole body is dropped: a part of a body never
reaches a route as if it were the whole.

Refusals are JSON ``{"detail": "..."}``, like FastAPI's own errors.

The limits bound the screening's cost: it runs before any route or login, on the service's
event loop (with its consumers and relay), and a megabyte of digit groups took 20 s to screen.
A body, or a path and query, larger than ``_SCREEN_IN_THREAD_BYTES``, or holding a run of
digits a card number could lie in (or bytes that are not ASCII, or percent-encoded ones), is
screened in a worker thread, one at a time per process: the screen is pure Python and still
shares the interpreter with the loop, but the loop gets its turn every few milliseconds instead
of waiting for the whole screen. A service whose routes take no body refuses any body unread.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, TypeVar
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI
from orderflow_contracts.card_data import contains_card_number, has_digit_run

from orderflow_chassis.card_data_guard import (
    CARD_DATA_REFUSED,
    DEFAULT_MAX_BYTES,
    CardDataRefused,
    ScreeningLimits,
    screen_payload,
)
from orderflow_chassis.errors import PermanentError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_T = TypeVar("_T")

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
DEFAULT_BODY_TIMEOUT_S: Final = 30.0
MAX_TARGET_BYTES: Final = 2048
"""Path and query string together; a URL of any route here is a few hundred bytes."""
_BODYLESS_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
# Screened on the event loop up to this size when it cannot cost much (see _cheap_to_screen),
# in the worker thread otherwise. Measured (review, helper 109): 4 KiB of digit groups took
# 12-17 ms of the loop each; a burst of such requests held it for seconds, past the consumers'
# session timeout. Helper 121: 512 bytes of them still took 7-8 ms each, and 1,000 at once held
# the loop for 8 s.
_SCREEN_IN_THREAD_BYTES: Final = 512
# A request that may take no body and declares one of unknown length (chunked) is given this
# long to end it: a proxy may forward an empty body so (Envoy does), a client that never ends
# it holds its connection no longer.
_NO_BODY_TIMEOUT_S: Final = 2.0

CARD_NUMBER_REFUSED: Final = (
    "the request contains what looks like a card number (13-19 digits passing the Luhn check) "
    "in its {where}; card data must never be sent, only provider tokens"
)
CARD_FIELD_REFUSED: Final = (
    "the request body has a field named for card data ({name}); card numbers and security "
    "codes must never be sent, only provider tokens"
)
_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_MAY_DECODE_TO_DIGITS = re.compile(rb'[%"\\]')
_FORM: Final = b"application/x-www-form-urlencoded"


class BadRequestTarget(ValueError):
    """The path or query string cannot be read as text."""


class HttpInputGuard:
    """ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: AsgiApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.limits = ScreeningLimits(max_bytes=max(max_body_bytes, DEFAULT_MAX_BYTES))
        self._screening = asyncio.Semaphore(1)  # large bodies: one screened at a time

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        if target > MAX_TARGET_BYTES:
            await _refuse(send, 414, f"the path and query are longer than {MAX_TARGET_BYTES} bytes")
            return
        try:
            raw_target = (scope.get("raw_path") or b"") + (scope.get("query_string") or b"")
            problem = await self._screen(raw_target, _card_number_in_target, scope)
        except BadRequestTarget as error:
            await _refuse(send, 400, str(error))
            return
        if problem is not None:
            await _refuse(send, 422, CARD_NUMBER_REFUSED.format(where=problem))
            return
        method = str(scope.get("method", "")).upper()
        limit = 0 if method in _BODYLESS_METHODS else self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, 413, self._too_large(method, limit))
            return
        wait_s = min(self.body_timeout_s, _NO_BODY_TIMEOUT_S) if limit == 0 else self.body_timeout_s
        body, read = await _read_body(receive, limit, wait_s)
        if read == "disconnected":  # a part of a body is not a request: nobody waits for it
            return
        if read == "too large":
            await _refuse(send, 413, self._too_large(method, limit))
            return
        if read == "too slow":  # a client trickling bytes holds a connection for nothing
            await _refuse(send, 408, f"the request body took over {wait_s:g} s")
            return
        refusal = await self._screened(scope, body) if body else None
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _screened(self, scope: Scope, body: bytes) -> tuple[int, str] | None:
        return await self._screen(body, self._body_refusal, scope, body)

    async def _screen(self, screened: bytes, screen: Callable[..., _T], *args: Any) -> _T:
        """``screen(*args)`` of the bytes ``screened``: on the loop when they are few and
        cannot hold a card number's digits, else in the worker thread, one at a time."""
        if len(screened) <= _SCREEN_IN_THREAD_BYTES and _cheap_to_screen(screened):
            return screen(*args)
        async with self._screening:
            return await asyncio.to_thread(screen, *args)

    def _body_refusal(self, scope: Scope, body: bytes) -> tuple[int, str] | None:
        """Why ``body`` is refused (status, message), or None. Bodies are text: JSON or a form,
        in UTF-8 (RFC 8259); other encodings would slip past a screen that reads bytes."""
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return 400, "the request body is not UTF-8 text"
        if b"\x00" in body:  # never in JSON or form text; in UTF-16, every other byte
            return 400, "the request body is not UTF-8 text"
        # A form is read as a query string is: `+` and %XX hide a card number's digits (and
        # %00 a NUL) from a screen of bytes.
        is_form = _header(scope, b"content-type").lower().startswith(_FORM)
        try:
            if is_form and _pairs_hold_card(body, "form"):
                return 422, CARD_NUMBER_REFUSED.format(where="form")
        except BadRequestTarget as error:
            return 400, str(error)
        try:
            screen_payload(body, self.limits)
        except PermanentError as refused:
            if isinstance(refused, CardDataRefused) and refused.card_field is not None:
                return 422, CARD_FIELD_REFUSED.format(name=refused.card_field)
            if refused.code == CARD_DATA_REFUSED:
                return 422, CARD_NUMBER_REFUSED.format(where="body")
            return 422, refused.reason
        except Exception:  # bounded, but never trusted: what cannot be screened is refused
            return 422, "the request body could not be screened for card data; refused unread"
        return None

    def _too_large(self, method: str, limit: int) -> str:
        if limit == 0:
            return f"a {method} request takes no body"
        return f"the request body is larger than {limit} bytes"


def install_http_guards(app: FastAPI, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
    """Screen every request of ``app`` (see the module docstring)."""
    app.add_middleware(HttpInputGuard, max_body_bytes=max_body_bytes)


def _cheap_to_screen(data: bytes) -> bool:
    """Whether the digit-group rules, the screen's costly part, find nothing to work on: ASCII
    with no run of digits and separators a card number could lie in, once ``+`` is read as a
    space, nothing percent-encoded and no JSON quote or escape (which may decode to such a
    run, or split one across strings: helper 126 timed 1-2 ms of the loop for 512 bytes of
    ``"4111","4111"...`` or ``1234\t1234...``). A UUID in a path is cheap: its groups of
    digits are too short."""
    return (
        data.isascii()
        and not _MAY_DECODE_TO_DIGITS.search(data)
        and not has_digit_run(data.replace(b"+", b" "))
    )


def _card_number_in_target(scope: Scope) -> str | None:
    """Where a card number sits in the request target, or None; raises BadRequestTarget."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass")
    for segment in raw_path.split(b"/"):
        if contains_card_number(_decoded(segment, "path"), identifier=True):
            return "path"
    if _pairs_hold_card(scope.get("query_string") or b"", "query string"):
        return "query string"
    return None


def _pairs_hold_card(encoded: bytes, where: str) -> bool:
    """Whether a name or value of ``name=value&...`` (a query string, a form) holds a card
    number once decoded; raises BadRequestTarget when one cannot be read as text."""
    for pair in encoded.split(b"&"):
        for part in pair.split(b"=", 1):
            if contains_card_number(_decoded(part.replace(b"+", b" "), where)):
                return True
    return False


def _decoded(component: bytes, where: str) -> str:
    if _BAD_PERCENT.search(component):
        raise BadRequestTarget(f"the {where} has invalid percent-encoding")
    try:
        text = unquote_to_bytes(component).decode("utf-8")  # strict: refuses surrogates too
    except UnicodeDecodeError:
        raise BadRequestTarget(f"the {where} is not valid UTF-8 once percent-decoded") from None
    if "\x00" in text:
        raise BadRequestTarget(f"the {where} contains a NUL character")
    return text


def _header(scope: Scope, wanted: bytes) -> bytes:
    """The first value of the header named ``wanted`` (lower case), or b""."""
    for name, value in scope.get("headers") or ():
        if name.lower() == wanted:
            return bytes(value)
    return b""


def _content_length(scope: Scope) -> int | None:
    try:
        return int(_header(scope, b"content-length"))
    except ValueError:  # absent, or not a number
        return None


async def _read_body(receive: Receive, limit: int, timeout_s: float) -> tuple[bytes, str]:
    """The whole body and "complete"; or "too large" once it passed ``limit``; or
    "disconnected" when the client left before sending all of it; or "too slow" when it did
    not arrive within ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            return await _body(receive, limit)
    except TimeoutError:
        return b"", "too slow"


async def _body(receive: Receive, limit: int) -> tuple[bytes, str]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"", "disconnected"
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return b"", "too large"
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), "complete"


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
