"""What every HTTP provider adapter shares: classifying failures the same way.

Timeouts, connection failures, 429 and 5xx are transient (:class:`ProviderUnavailable`: retry
with the same idempotency key); other 4xx that are not a decline are a refusal of the request
itself (:class:`ProviderRejected`: never retried). Only a connection never made is
``connection_failed`` (certainly nothing done); a connection lost once the request may have
been sent is ``transport_error``, whose outcome is unknown.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from orderflow_payment.domain.providers import ProviderRejected, ProviderUnavailable


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException as error:
        raise ProviderUnavailable("timeout", type(error).__name__) from error
    except httpx.ConnectError as error:
        raise ProviderUnavailable("connection_failed", type(error).__name__) from error
    except httpx.TransportError as error:  # read, write, protocol: the request may have gone
        raise ProviderUnavailable("transport_error", type(error).__name__) from error
    if response.status_code == 429 or response.status_code >= 500:
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
