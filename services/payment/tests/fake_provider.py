"""A payment provider that answers as a test scripted it, and the dependencies bootstrap would
give the use cases around it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderflow_payment.adapters.provider_registry import ProviderRegistry
from orderflow_payment.domain.providers import (
    Authorise,
    Capture,
    ProviderCall,
    ProviderResult,
    Refund,
    Void,
)
from orderflow_payment.settings import PaymentSettings

Answer = ProviderResult | Exception


@dataclass
class ScriptedProvider:
    """A payment provider that answers what a test scripted, per operation, in order; then
    approves. Like a real provider, a key it already answered gets the same answer again
    (only answers count: a failure moved nothing)."""

    name: str = "scripted"
    script: dict[str, list[Answer]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (operation, idempotency key)
    _answered: dict[str, ProviderResult] = field(default_factory=dict)

    def answer(self, operation: str, *answers: Answer) -> ScriptedProvider:
        self.script.setdefault(operation, []).extend(answers)
        return self

    def keys(self, operation: str) -> list[str]:
        return [key for op, key in self.calls if op == operation]

    async def _call(self, operation: str, key: str) -> ProviderResult:
        self.calls.append((operation, key))
        if key in self._answered:
            return self._answered[key]
        queued = self.script.get(operation)
        answer: Answer = (
            queued.pop(0) if queued else ProviderResult.approve(f"{self.name}-{operation}-{key}")
        )
        if isinstance(answer, Exception):
            raise answer
        self._answered[key] = answer
        return answer

    async def authorise(self, request: Authorise) -> ProviderResult:
        return await self._call("authorise", request.idempotency_key)

    async def capture(self, request: Capture) -> ProviderResult:
        return await self._call("capture", request.idempotency_key)

    async def void(self, request: Void) -> ProviderResult:
        return await self._call("void", request.idempotency_key)

    async def refund(self, request: Refund) -> ProviderResult:
        return await self._call("refund", request.idempotency_key)


@dataclass
class MemoryJournal:
    """The journal of provider calls in memory: like the real one, it outlives a rolled back
    unit of work (a crash after the call keeps the call)."""

    calls: dict[str, ProviderCall] = field(default_factory=dict)

    async def record(self, call: ProviderCall) -> ProviderCall | None:
        earlier = self.calls.get(call.idempotency_key)
        if earlier is None:
            self.calls[call.idempotency_key] = call
        return earlier


def registry(provider: ScriptedProvider, journal: MemoryJournal | None = None) -> ProviderRegistry:
    """``provider`` for every method, its calls written in ``journal`` (a new one by default)."""
    return ProviderRegistry(
        {"visa": provider, "mastercard": provider, "paypal": provider},
        journal=journal if journal is not None else MemoryJournal(),
    )


def dependencies(
    provider: ScriptedProvider,
    *,
    sleeps: list[float] | None = None,
    journal: MemoryJournal | None = None,
    **settings: Any,
) -> dict[str, object]:
    """What bootstrap would give the use cases: ``provider`` serves every method, pauses
    between retries are recorded in ``sleeps`` instead of waited, calls written in
    ``journal``."""
    pauses = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    values: dict[str, Any] = {"provider_retry_attempts": 3}
    values.update(settings)
    return {
        "providers": registry(provider, journal),
        "settings": PaymentSettings(**values),
        "sleep": sleep,
    }
