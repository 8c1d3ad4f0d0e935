"""PayPal adapter for the REST Orders v2 / Payments v2 APIs.

The storefront creates and the buyer approves a PayPal order with `intent=AUTHORIZE` and the
order total; the PayPal order id is the payment token that reaches us in `OrderPlaced`.

| port | HTTP call |
|---|---|
| authorise | `POST /v2/checkout/orders/{token}/authorize` → authorization id |
| capture | `POST /v2/payments/authorizations/{id}/capture` (`amount`) → capture id |
| void | `POST /v2/payments/authorizations/{id}/void` |
| refund | `POST /v2/payments/captures/{id}/refund` (`amount`) → refund id |

Every call sends `PayPal-Request-Id: <our key>` (PayPal's idempotency header) and a bearer token
from `POST /v1/oauth2/token` (client credentials `PAYMENT_PAYPAL_CLIENT_ID` /
`PAYMENT_PAYPAL_CLIENT_SECRET`), cached until shortly before it expires.
"""

from __future__ import annotations

import time
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from orderflow_contracts.events.payments import PaymentDeclineCode
from orderflow_contracts.money import Money

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

_DECLINE_ISSUES = {
    "INSTRUMENT_DECLINED": PaymentDeclineCode.DO_NOT_HONOUR,
    "PAYER_CANNOT_PAY": PaymentDeclineCode.DO_NOT_HONOUR,
    "TRANSACTION_REFUSED": PaymentDeclineCode.DO_NOT_HONOUR,
    "CARD_EXPIRED": PaymentDeclineCode.EXPIRED_CARD,
    "INSUFFICIENT_FUNDS": PaymentDeclineCode.INSUFFICIENT_FUNDS,
    "ORDER_NOT_APPROVED": PaymentDeclineCode.INVALID_TOKEN,
    "INVALID_RESOURCE_ID": PaymentDeclineCode.INVALID_TOKEN,
}


def _amount(money: Money) -> dict[str, str]:
    return {"value": format(money.amount, "f"), "currency_code": money.currency.value}


class PayPalProvider:
    def __init__(self, client: httpx.AsyncClient, *, client_id: str, client_secret: str) -> None:
        self._client = client
        self._credentials = (client_id, client_secret)
        self._token: str | None = None
        self._token_expires = 0.0

    @property
    def name(self) -> str:
        return "paypal"

    async def _bearer(self) -> str:
        if self._token is None or time.monotonic() >= self._token_expires:
            # Whatever happens here, the payment's request was not sent: nothing done.
            try:
                response = await send(
                    self._client,
                    "POST",
                    "/v1/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=self._credentials,
                )
            except ProviderUnavailable as error:
                raise ProviderUnavailable("auth_failed", f"token: {error.kind}") from error
            if response.status_code != 200:  # our credentials, not the payment: retried
                raise ProviderUnavailable("auth_failed", f"token: HTTP {response.status_code}")
            try:
                body = response.json()
                self._token = str(body["access_token"])
                expires_in = float(body.get("expires_in", 300))
            except (ValueError, KeyError, TypeError) as error:  # not a token: nothing done
                raise ProviderUnavailable("auth_failed", "token: unreadable answer") from error
            self._token_expires = time.monotonic() + expires_in - 60
        return self._token

    async def _post(self, path: str, key: str, body: dict[str, Any] | None) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {await self._bearer()}",
            "PayPal-Request-Id": key,
            "Prefer": "return=representation",
        }
        try:
            return await send(self._client, "POST", path, json=body or {}, headers=headers)
        except ProviderUnavailable as error:
            if error.kind == "http_401":  # the token expired early or was revoked: a new one
                self._token = None
            raise

    @staticmethod
    def _issue(response: httpx.Response) -> tuple[str, str]:
        body = refusal_of(response)
        details = body.get("details")
        first = details[0] if isinstance(details, list) and details else {}
        first = first if isinstance(first, dict) else {}
        issue = str(first.get("issue") or body.get("name") or "DECLINED")
        message = provider_words(first.get("description") or body.get("message"), "Declined.")
        return issue, message

    async def authorise(self, request: Authorise) -> ProviderResult:
        response = await self._post(
            f"/v2/checkout/orders/{request.token}/authorize", request.idempotency_key, None
        )
        if response.status_code in (404, 422):
            issue, message = self._issue(response)
            return ProviderResult.decline(
                str(_DECLINE_ISSUES.get(issue, snake_case(issue))), message
            )
        if response.status_code not in (200, 201):
            raise rejected(response, "authorisation")
        body = answer_of(response)
        path = ("purchase_units", 0, "payments", "authorizations", 0)
        authorization_id = reference_in(response, body, *path, "id")
        authorization = body["purchase_units"][0]["payments"]["authorizations"][0]
        status = authorization.get("status")
        if status in ("DENIED", "EXPIRED", "VOIDED"):  # nothing is held
            return ProviderResult.decline(
                PaymentDeclineCode.DO_NOT_HONOUR, f"authorization is {status}", authorization_id
            )
        if status not in ("CREATED", "PENDING"):  # a hold may exist: not understood
            raise unreadable(response, f"authorization status {status_word(status)}")
        if not _same_amount(authorization.get("amount"), request.amount, response):
            # The buyer approved another amount than the order's total: release it at once.
            return await self._release_mismatch(request, authorization_id)
        return ProviderResult.approve(authorization_id)

    async def _release_mismatch(self, request: Authorise, authorization_id: str) -> ProviderResult:
        declined = "PayPal order amount differs from the order total."
        try:
            await self.void(
                Void(
                    f"{request.idempotency_key}:amount-mismatch",
                    request.order_id,
                    authorization_id,
                    request.amount,
                )
            )
        except ProviderUnavailable as error:  # the hold may exist: ask again later
            raise ProviderUnavailable("hold_not_released", error.kind) from error
        except ProviderRejected as error:
            # PayPal refuses the release (asked again, it would refuse again): decline; a hold
            # left lapses at PayPal, and reconciliation reports it.
            declined += f" PayPal refused to release the hold ({error.code})."
        return ProviderResult.undone("amount_mismatch", declined, authorization_id)

    async def capture(self, request: Capture) -> ProviderResult:
        response = await self._post(
            f"/v2/payments/authorizations/{request.authorisation_reference}/capture",
            request.idempotency_key,
            {"amount": _amount(request.amount), "final_capture": True},
        )
        if response.status_code not in (200, 201):
            raise rejected(response, "capture")
        body = answer_of(response)
        return outcome_of(
            response,
            body,
            reference_in(response, body, "id"),
            done=frozenset({"COMPLETED", "PENDING", "PARTIALLY_REFUNDED", "REFUNDED"}),
            failed=frozenset({"DECLINED", "FAILED"}),
            declined_as="capture_failed",
        )

    async def void(self, request: Void) -> ProviderResult:
        response = await self._post(
            f"/v2/payments/authorizations/{request.authorisation_reference}/void",
            request.idempotency_key,
            None,
        )
        if response.status_code not in (200, 204):
            raise rejected(response, "void")
        if response.status_code == 200:  # with the authorization: it must say voided
            status = answer_of(response).get("status")
            if status is None:
                raise unreadable(response, "no status")
            if status != "VOIDED":
                raise ProviderRejected("not_voided", f"authorization is {status_word(status)}")
        return ProviderResult.approve(request.authorisation_reference)

    async def refund(self, request: Refund) -> ProviderResult:
        response = await self._post(
            f"/v2/payments/captures/{request.capture_reference}/refund",
            request.idempotency_key,
            {"amount": _amount(request.amount)},
        )
        if response.status_code == 422:
            _, message = self._issue(response)
            return ProviderResult.decline("provider_refused", message)
        if response.status_code not in (200, 201):
            raise rejected(response, "refund")
        body = answer_of(response)
        return outcome_of(
            response,
            body,
            reference_in(response, body, "id"),
            done=frozenset({"COMPLETED", "PENDING"}),  # pending: taken as done (decision 81)
            failed=frozenset({"CANCELLED", "FAILED"}),
            declined_as="provider_refused",
        )


def _same_amount(amount: object, expected: Money, response: httpx.Response) -> bool:
    """Whether PayPal's ``{"value", "currency_code"}`` is ``expected`` (compared as numbers:
    PayPal writes no decimals for a currency without them); without one, the answer is not
    understood."""
    if not isinstance(amount, dict):
        raise unreadable(response, "no authorised amount")
    try:
        value, currency = Decimal(str(amount["value"])), amount["currency_code"]
    except (KeyError, InvalidOperation) as error:
        raise unreadable(response, "no authorised amount") from error
    return currency == expected.currency.value and value == expected.amount
