"""What every HTTP provider adapter shares: classifying failures the same way.

Timeouts, connection failures, 401, 403, 407, 408, 429 and 5xx are transient
(:class:`ProviderUnavailable`: retry with the same idempotency key); other 4xx that are not a
decline are a refusal of the request itself (:class:`ProviderRejected`: never retried). A 401,
403 or 407 is our credentials, their permissions or our egress proxy (expired, revoked,
rotated, an IP allow-list), not the request: once ops fix them, the same call succeeds. Only a
connection never made (refused, or not made in time, or no pooled connection free), a 401, a
403 and a 407 are certainly nothing done (``connection_failed``, ``http_401``...); a read or
write that failed once the request may have been sent is ``timeout`` or ``transport_error``,
a 408 ``http_408`` and a 409 (a request with the same key still in flight) ``http_409``: their
outcome is unknown. What no provider answers with, which an infrastructure between us sends,
is nothing done too: a redirect (3xx, never followed: ``redirected``), a 421 or 425 (not
processed, by their definition), a 404 without the provider's JSON error (``no_route``). A
success answer we cannot read (``unreadable_answer``: a proxy's page, a cut or corrupt body, a
shape we do not know) is unknown: the provider may have done the work, and asking again with
the same key tells.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from orderflow_contracts.card_data import contains_card_number, redact_card_numbers
from orderflow_contracts.primitives import clip_text

from orderflow_payment.domain.providers import (
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
)

# 409: another request with this idempotency key is still being processed (outcome unknown:
# ask again later); 401, 403, 407: our credentials, their permissions, our proxy; 408, 429:
# unavailable; 421, 425: a connection or proxy that cannot take the request now.
_UNAVAILABLE = frozenset({401, 403, 407, 408, 409, 421, 425, 429})


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise ProviderUnavailable("connection_failed", type(error).__name__) from error
    except httpx.TimeoutException as error:  # read or write: the request may have gone
        raise ProviderUnavailable("timeout", type(error).__name__) from error
    except httpx.DecodingError as error:  # a body we cannot decode (gzip): the answer is lost
        raise ProviderUnavailable("unreadable_answer", type(error).__name__) from error
    except httpx.RequestError as error:  # read, write, protocol: the request may have gone
        raise ProviderUnavailable("transport_error", type(error).__name__) from error
    status = response.status_code
    if status == 303:  # "see other": the request was processed, its answer is elsewhere
        raise ProviderUnavailable("http_303", _path_shape(url))
    if 300 <= status < 400:  # a proxy's redirect (never followed): the provider was not asked
        raise ProviderUnavailable("redirected", f"HTTP {status} at {_path_shape(url)}")
    if status in _UNAVAILABLE or status >= 500:
        raise ProviderUnavailable(f"http_{status}", _path_shape(url))
    if status == 404 and not _json_object(response):
        # A route our gateway or a proxy does not know, not the provider's "no such payment"
        # (which says so in its JSON error): the request never reached it.
        raise ProviderUnavailable("no_route", f"HTTP 404 at {_path_shape(url)}")
    return response


def _json_object(response: httpx.Response) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def _path_shape(url: str) -> str:
    """``url`` without its ids (a PayPal order id is the buyer's payment token): what a
    failure's message, and so a log line, may carry."""
    return "/".join(
        part if re.fullmatch(r"v\d+|[a-z_]*", part) else "{id}" for part in url.split("/")
    )


def rejected(response: httpx.Response, what: str) -> ProviderRejected:
    return ProviderRejected(f"http_{response.status_code}", f"{what} refused by the provider")


def snake_case(code: str) -> str:
    """A provider's code as one of our reason codes (``INSTRUMENT_DECLINED`` -> lower). Long
    digit runs are dropped: a code is published, and must never carry a card number."""
    if contains_card_number(code):
        return "declined"
    cleaned = re.sub(r"[^a-z0-9]+", "_", re.sub(r"\d{6,}", "", code.lower())).strip("_")
    if not cleaned:
        return "declined"
    if not cleaned[:1].isalpha():
        cleaned = f"code_{cleaned}".rstrip("_")
    return cleaned[:64]


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """A success answer's JSON object; one we cannot read is an unknown outcome."""
    try:
        body = response.json()
    except ValueError as error:
        raise unreadable(response, "not JSON") from error
    if not isinstance(body, dict):
        raise unreadable(response, "not a JSON object")
    return body


def reference_in(response: httpx.Response, body: Any, *path: str | int) -> str:
    """The provider's id at ``path`` of a success answer (``"id"``, or deeper): without one
    we cannot tell what was done, so the outcome is unknown."""
    value = body
    try:
        for step in path:
            value = value[step]
    except (KeyError, IndexError, TypeError) as error:
        raise unreadable(response, f"no {'.'.join(map(str, path))}") from error
    if not isinstance(value, str) or not value:
        raise unreadable(response, f"no {'.'.join(map(str, path))}")
    return value


def refusal_of(response: httpx.Response) -> dict[str, Any]:
    """A refusal's JSON object, or an empty one: a refusal whose words are lost still stands."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def unreadable(response: httpx.Response, why: str) -> ProviderUnavailable:
    return ProviderUnavailable("unreadable_answer", f"HTTP {response.status_code}: {why}")


def provider_words(text: object, fallback: str) -> str:
    """A provider's message as we may publish and store it: never a card number (redacted),
    never longer than an event's text field; ``fallback`` when there is none."""
    if not isinstance(text, str) or not text.strip():
        return fallback
    return clip_text(redact_card_numbers(text))


def outcome_of(
    response: httpx.Response,
    body: dict[str, Any],
    reference: str,
    *,
    done: frozenset[str],
    failed: frozenset[str],
    declined_as: str,
) -> ProviderResult:
    """A capture's or refund's result by the status its answer gives: ``done`` is approved,
    ``failed`` (no money moved) is declined ``declined_as``; any other status, or none, is
    not understood, so the outcome is unknown (asked again with the same key)."""
    status = body.get("status")
    if status in done:
        return ProviderResult.approve(reference)
    if status in failed:
        return ProviderResult.decline(
            declined_as, f"the provider answered {status_word(status)}", reference
        )
    raise unreadable(response, f"status {status_word(status)}")


def status_word(status: object) -> str:
    """A provider's status as a message may show it: a word, or ``?`` for anything else."""
    return status if isinstance(status, str) and re.fullmatch(r"[A-Za-z_]{1,40}", status) else "?"
