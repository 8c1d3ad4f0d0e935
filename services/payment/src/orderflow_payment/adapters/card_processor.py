"""Card processor adapter (Visa, Mastercard) for a PaymentIntents-style REST API.

Modelled on the widely used PaymentIntents shape (Stripe's API and its clones): the storefront
tokenises the card with the processor's JavaScript, so only a payment-method token reaches us.

| port | HTTP call |
|---|---|
| authorise | `POST /v1/payment_intents` (`payment_method=<token>`, `confirm=true`, |
|           | `capture_method=manual`) → `pi_…` in status `requires_capture` |
| capture | `POST /v1/payment_intents/{pi}/capture` (`amount_to_capture`) |
| void | `POST /v1/payment_intents/{pi}/cancel` |
| refund | `POST /v1/refunds` (`payment_intent`, `amount`) → `re_…` |
| (undo, below) | `GET /v1/payment_intents/{pi}` (its status now) |

Every call sends `Idempotency-Key: <our key>`; a declined card answers 402 with
`error.decline_code`. Credentials: `PAYMENT_CARD_PROCESSOR_API_KEY` (Bearer).

An authorisation answered `processing` or `succeeded` (an account that ignores
`capture_method=manual` takes the money at once) is not the hold the saga needs: it is
cancelled, or refunded when it cannot be (once the processor says it succeeded), before the
order is declined (decision 85).
"""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from orderflow_contracts.events.payments import PaymentDeclineCode

from orderflow_payment.adapters.provider_http import (
    answer_of,
    outcome_of,
    provider_words,
    reference_in,
    refusal_of,
    rejected,
    send,
    snake_case,
    status_word,
    unreadable,
)
from orderflow_payment.domain.providers import (
    Authorise,
    Capture,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
    Refund,
    Void,
)
from orderflow_payment.metrics import PAYMENTS_KEPT_ON_DECLINE

log = structlog.get_logger(__name__)

_DECLINE_CODES = {
    "insufficient_funds": PaymentDeclineCode.INSUFFICIENT_FUNDS,
    "do_not_honor": PaymentDeclineCode.DO_NOT_HONOUR,
    "generic_decline": PaymentDeclineCode.DO_NOT_HONOUR,
    "expired_card": PaymentDeclineCode.EXPIRED_CARD,
    "fraudulent": PaymentDeclineCode.FRAUD_SUSPECTED,
    "stolen_card": PaymentDeclineCode.FRAUD_SUSPECTED,
    "lost_card": PaymentDeclineCode.FRAUD_SUSPECTED,
}


# A capture's answer: captured (``processing`` settles later), or no money moved (the intent
# was cancelled, or its card failed at capture): a decline. Any other status is not understood.
_CAPTURED = frozenset({"succeeded", "processing"})
_NOT_CAPTURED = frozenset({"canceled", "requires_payment_method"})
# A refund's answer: paid, or paid later (taken as done; decision 81).
_REFUNDED = frozenset({"succeeded", "pending", "requires_action"})
# An authorisation's answer that holds nothing: the card needs another step or failed.
_NOT_HELD = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "canceled"}
)
# One that took the money, or may still: not a hold, so undone before the order is declined.
_TAKEN_AT_ONCE = frozenset({"processing", "succeeded"})


class CardProcessorProvider:
    def __init__(self, client: httpx.AsyncClient, *, api_key: str) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {api_key}"}

    @property
    def name(self) -> str:
        return "card-processor"

    async def _post(self, path: str, key: str, data: dict[str, Any]) -> httpx.Response:
        return await send(
            self._client,
            "POST",
            path,
            data=data,
            headers={**self._headers, "Idempotency-Key": key},
        )

    def _declined(self, response: httpx.Response) -> ProviderResult:
        error = _object(refusal_of(response).get("error"))
        raw = str(error.get("decline_code") or error.get("code") or "declined")
        code = _DECLINE_CODES.get(raw, snake_case(raw))
        message = provider_words(error.get("message"), "The card was declined.")
        intent = _object(error.get("payment_intent")).get("id")
        return ProviderResult.decline(
            str(code), message, intent if isinstance(intent, str) else None
        )

    async def authorise(self, request: Authorise) -> ProviderResult:
        response = await self._post(
            "/v1/payment_intents",
            request.idempotency_key,
            {
                "amount": request.amount.minor_units,
                "currency": request.amount.currency.value.lower(),
                "payment_method": request.token,
                "confirm": "true",
                "capture_method": "manual",
                "metadata[order_id]": str(request.order_id),
            },
        )
        if response.status_code == 402:
            return self._declined(response)
        if response.status_code != 200:
            raise rejected(response, "authorisation")
        body = answer_of(response)
        intent = reference_in(response, body, "id")
        status = body.get("status")
        if status == "requires_capture":
            return ProviderResult.approve(intent)
        if status in _NOT_HELD:
            return ProviderResult.decline(
                PaymentDeclineCode.DO_NOT_HONOUR, f"payment is {status_word(status)}", intent
            )
        if status in _TAKEN_AT_ONCE:
            return await self._undo_taken_at_once(request, intent, str(status))
        raise unreadable(response, f"authorisation status {status_word(status)}")

    async def _undo_taken_at_once(
        self, request: Authorise, intent: str, status: str
    ) -> ProviderResult:
        """Cancel the intent, or refund it once it cannot be cancelled (it was captured), then
        decline: the saga captures only after stock is reserved. Each call has a key of its
        own derived from the authorisation's (a processor refuses a key reused on another
        endpoint), so asking again after a lost answer repeats it instead of doing it twice.
        Until the intent is cancelled, refunded or failed, the outcome is unknown."""
        taken = f"The processor took the payment at once ({status}) instead of holding it"
        key, order_id, amount = request.idempotency_key, request.order_id, request.amount
        try:
            if await self._cancel(Void(f"{key}:undo-cancel", order_id, intent, amount)) is None:
                return _undone(f"{taken}; it was cancelled.", intent)
            # The creation's answer, asked again, would be replayed as it was: read the intent.
            try:
                now = await self._status_of(intent)
            except ProviderRejected as error:
                return self._not_undone(request, intent, f"{taken}; its status", error.code)
            if now in _NOT_HELD:
                return _undone(f"{taken}; it then failed, and nothing was taken.", intent)
            if now == "requires_capture":  # a hold after all: cancellable now (a fresh key)
                held = Void(f"{key}:undo-cancel-held", order_id, intent, amount)
                refusal = await self._cancel(held)
                if refusal is None:
                    return _undone(f"{taken}; it was cancelled.", intent)
                return self._not_undone(request, intent, f"{taken}; its hold", refusal)
            if now != "succeeded":  # still processing: neither cancellable nor refundable yet
                raise ProviderUnavailable("payment_not_undone", f"payment is {status_word(now)}")
            refund = await self.refund(Refund(f"{key}:undo-refund", order_id, intent, amount))
        except ProviderUnavailable as error:  # the money may be taken: ask again later
            raise ProviderUnavailable("payment_not_undone", error.kind) from error
        except ProviderRejected as error:
            refund = ProviderResult.decline(error.code, error.detail)
        if refund.approved:
            return _undone(f"{taken}; it was refunded.", intent)
        # Asked again, the processor would refuse again. Conclusive: the money was taken and
        # stays taken (its message must reach ops as it is).
        return self._not_undone(
            request, intent, f"{taken}; its refund", refund.decline_code, conclusive=True
        )

    async def _cancel(self, void: Void) -> str | None:
        """None once cancelled, else the refusal's code."""
        try:
            await self.void(void)
        except ProviderRejected as refused:  # no longer cancellable: captured, or settled
            return refused.code
        return None

    def _not_undone(
        self,
        request: Authorise,
        intent: str,
        what: str,
        refusal: str | None,
        *,
        conclusive: bool = False,
    ) -> ProviderResult:
        """The order is declined with what is known; the customer may have paid for it: ops
        check the payment and refund it by hand (the alert OrderflowPaymentKeptOnDecline).
        Not conclusive unless the caller knows what became of the money."""
        log.error(
            "payment.taken_payment_not_undone",
            order_id=str(request.order_id),
            provider_reference=intent,
            refusal=refusal,
        )
        PAYMENTS_KEPT_ON_DECLINE.labels(self.name).inc()
        message = (
            f"{what} was refused by the processor ({refusal}): it is checked and refunded by hand."
        )
        code = PaymentDeclineCode.DO_NOT_HONOUR
        if conclusive:
            return ProviderResult.undone(code, message, intent)
        return ProviderResult.decline(code, message, intent)

    async def _status_of(self, intent: str) -> object:
        response = await send(
            self._client, "GET", f"/v1/payment_intents/{intent}", headers=self._headers
        )
        if response.status_code != 200:
            raise rejected(response, "payment lookup")
        return answer_of(response).get("status")

    async def capture(self, request: Capture) -> ProviderResult:
        response = await self._post(
            f"/v1/payment_intents/{request.authorisation_reference}/capture",
            request.idempotency_key,
            {"amount_to_capture": request.amount.minor_units},
        )
        if response.status_code != 200:
            raise rejected(response, "capture")
        body = answer_of(response)
        return outcome_of(
            response,
            body,
            reference_in(response, body, "id"),
            done=_CAPTURED,
            failed=_NOT_CAPTURED,
            declined_as="capture_failed",
        )

    async def void(self, request: Void) -> ProviderResult:
        response = await self._post(
            f"/v1/payment_intents/{request.authorisation_reference}/cancel",
            request.idempotency_key,
            {},
        )
        if response.status_code != 200:
            raise rejected(response, "void")
        body = answer_of(response)
        intent = reference_in(response, body, "id")
        status = body.get("status")
        if status == "canceled":
            return ProviderResult.approve(intent)
        if status is None:
            raise unreadable(response, "no status")
        # Answered, but not cancelled (captured meanwhile, say): a refusal of the void.
        raise ProviderRejected("not_cancelled", "the processor did not cancel the payment")

    async def refund(self, request: Refund) -> ProviderResult:
        response = await self._post(
            "/v1/refunds",
            request.idempotency_key,
            {"payment_intent": request.capture_reference, "amount": request.amount.minor_units},
        )
        if response.status_code in (400, 402):
            error = _object(refusal_of(response).get("error"))
            return ProviderResult.decline(
                "provider_refused",
                provider_words(error.get("message"), "The processor refused the refund."),
            )
        if response.status_code != 200:
            raise rejected(response, "refund")
        body = answer_of(response)
        return outcome_of(
            response,
            body,
            reference_in(response, body, "id"),
            done=_REFUNDED,
            failed=frozenset({"failed", "canceled"}),
            declined_as="provider_refused",
        )


def _undone(message: str, intent: str) -> ProviderResult:
    return ProviderResult.undone(PaymentDeclineCode.DO_NOT_HONOUR, message, intent)


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
