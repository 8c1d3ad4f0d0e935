"""What every HTTP provider adapter shares: classifying failures the same way.

Timeouts, connection failures, 401, 408, 429 and 5xx are transient (:class:`ProviderUnavailable`:
retry with the same idempotency key); other 4xx that are not a decline are a refusal of the
request itself (:class:`ProviderRejected`: never retried). A 401 is our credentials (expired,
revoked, rotated), not the request: once ops or a refreshed token fix them, the same call
succeeds. Only a connection never made (refused, or not made in time, or no pooled connection
free) and a 401 are certainly nothing done (``connection_failed``, ``http_401``); a read or
write that failed once the request may have been sent is ``timeout`` or ``transport_error``,
a 408 ``http_408`` and a 409 (a request with the same key still in flight) ``http_409``: their
outcome is unknown. So is a success answer we cannot read (``unreadable_answer``: a proxy's
page, a cut body, a shape we do not know): the provider may have done the work, and asking
again with the same key tells.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from orderflow_payment.domain.providers import ProviderRejected, ProviderUnavailable

_UNAVAILABLE = frozenset({401, 408, 409, 429})


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await client.request(method, url, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
        raise ProviderUnavailable("connection_failed", type(error).__name__) from error
    except httpx.TimeoutException as error:  # read or write: the request may have gone
        raise ProviderUnavailable("timeout", type(error).__name__) from error
    except httpx.TransportError as error:  # read, write, protocol: the request may have gone
        raise ProviderUnavailable("transport_error", type(error).__name__) from error
    # 409: another request with this idempotency key is still being processed (outcome
    # unknown: ask again later); 401: our credentials; 408, 429 and 5xx: unavailable.
    if response.status_code in _UNAVAILABLE or response.status_code >= 500:
        raise ProviderUnavailable(f"http_{response.status_code}", url)
    return response


def rejected(response: httpx.Response, what: str) -> ProviderRejected:
    return ProviderRejected(f"http_{response.status_code}", f"{what} refused by the provider")


def snake_case(code: str) -> str:
    """A provider's code as one of our reason codes (``INSTRUMENT_DECLINED`` -> lower)."""
    cleaned = re.sub(r"[^a-z0-9]+", "_", code.lower()).strip("_")
    if not cleaned[:1].isalpha():
        cleaned = f"code_{cleaned}".rstrip("_")
    return cleaned[:64]


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """A success answer's JSON object; one we cannot read is an unknown outcome."""
    try:
        body = response.json()
    except ValueError as error:
        raise _unreadable(response, "not JSON") from error
    if not isinstance(body, dict):
        raise _unreadable(response, "not a JSON object")
    return body


def reference_in(response: httpx.Response, body: Any, *path: str | int) -> str:
    """The provider's id at ``path`` of a success answer (``"id"``, or deeper): without one
    we cannot tell what was done, so the outcome is unknown."""
    value = body
    try:
        for step in path:
            value = value[step]
    except (KeyError, IndexError, TypeError) as error:
        raise _unreadable(response, f"no {'.'.join(map(str, path))}") from error
    if not isinstance(value, str) or not value:
        raise _unreadable(response, f"no {'.'.join(map(str, path))}")
    return value


def refusal_of(response: httpx.Response) -> dict[str, Any]:
    """A refusal's JSON object, or an empty one: a refusal whose words are lost still stands."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _unreadable(response: httpx.Response, why: str) -> ProviderUnavailable:
    return ProviderUnavailable("unreadable_answer", f"HTTP {response.status_code}: {why}")
