"""Which provider serves which payment method, chosen by settings (sandbox by default)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import httpx

from orderflow_payment.adapters.card_processor import CardProcessorProvider
from orderflow_payment.adapters.paypal import PayPalProvider
from orderflow_payment.adapters.provider_journal import JournaledProvider, SqlProviderCallJournal
from orderflow_payment.adapters.sandbox import SandboxProvider
from orderflow_payment.domain.providers import (
    PaymentProvider,
    ProviderCallJournal,
    UnknownProvider,
)
from orderflow_payment.settings import PaymentSettings


class ProviderRegistry:
    """Routes a method to its provider; later operations go to the provider that authorised.
    Every call is written in ``journal`` before it is made (see ``provider_journal``)."""

    def __init__(
        self,
        by_method: Mapping[str, PaymentProvider],
        *,
        journal: ProviderCallJournal,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        journaled = {id(p): JournaledProvider(p, journal) for p in by_method.values()}
        self._by_method = {method: journaled[id(p)] for method, p in by_method.items()}
        self._by_name = {provider.name: provider for provider in self._by_method.values()}
        self._journal = journal
        self._closers = list(closers)

    async def close(self) -> None:
        """Close the providers' connections and HTTP clients (the service does at stop)."""
        for close in self._closers:
            await close()

    def for_method(self, method: str) -> PaymentProvider:
        try:
            return self._by_method[method]
        except KeyError:
            raise UnknownProvider(f"no provider for payment method {method!r}") from None

    def named(self, name: str) -> PaymentProvider:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownProvider(f"provider {name!r} is not configured") from None


def build_registry(
    settings: PaymentSettings, *, database_url: str, schema: str
) -> ProviderRegistry:
    sandbox = SandboxProvider(database_url, schema=schema, latency_ms=settings.sandbox_latency_ms)
    journal = SqlProviderCallJournal(database_url, schema=schema)
    closers: list[Callable[[], Awaitable[None]]] = [sandbox.close, journal.close]
    timeout = httpx.Timeout(settings.provider_timeout_s)
    card: PaymentProvider = sandbox
    paypal: PaymentProvider = sandbox
    if settings.card_provider == "card-processor":
        card_client = httpx.AsyncClient(base_url=settings.card_processor_base_url, timeout=timeout)
        closers.append(card_client.aclose)
        card = CardProcessorProvider(
            card_client, api_key=settings.card_processor_api_key.get_secret_value()
        )
    if settings.paypal_provider == "paypal":
        paypal_client = httpx.AsyncClient(base_url=settings.paypal_base_url, timeout=timeout)
        closers.append(paypal_client.aclose)
        paypal = PayPalProvider(
            paypal_client,
            client_id=settings.paypal_client_id,
            client_secret=settings.paypal_client_secret.get_secret_value(),
        )
    return ProviderRegistry(
        {"visa": card, "mastercard": card, "paypal": paypal}, journal=journal, closers=closers
    )
