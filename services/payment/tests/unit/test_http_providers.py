"""The real provider adapters, against scripted HTTP answers (httpx.MockTransport)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from orderflow_contracts.money import Money
from orderflow_payment.adapters.card_processor import CardProcessorProvider
from orderflow_payment.adapters.paypal import PayPalProvider
from orderflow_payment.domain.providers import (
    Authorise,
    Capture,
    ProviderRejected,
    ProviderUnavailable,
    Refund,
    Void,
)
from orderflow_payment.handlers._provider_calls import call_provider
from orderflow_payment.metrics import PAYMENTS_KEPT_ON_DECLINE
from orderflow_payment.settings import PaymentSettings

ORDER = uuid.uuid4()
AMOUNT = Money.of("55.44", "EUR")


def card(handler: Callable[[httpx.Request], httpx.Response]) -> CardProcessorProvider:
    client = httpx.AsyncClient(
        base_url="https://cards.test", transport=httpx.MockTransport(handler)
    )
    return CardProcessorProvider(client, api_key="sk_test")


def paypal(handler: Callable[[httpx.Request], httpx.Response]) -> PayPalProvider:
    def with_oauth(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            return httpx.Response(200, json={"access_token": "A21", "expires_in": 3600})
        return handler(request)

    client = httpx.AsyncClient(
        base_url="https://paypal.test", transport=httpx.MockTransport(with_oauth)
    )
    return PayPalProvider(client, client_id="id", client_secret="secret")


def authorise_request(token: str = "pm_card") -> Authorise:
    return Authorise(f"authorise:{ORDER}", ORDER, AMOUNT, "visa", token)


async def test_card_authorisation_sends_the_idempotency_key_and_minor_units() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": "pi_1", "status": "requires_capture"})

    result = await card(answer).authorise(authorise_request())
    assert (result.approved, result.reference) == (True, "pi_1")
    (request,) = seen
    assert request.headers["Idempotency-Key"] == f"authorise:{ORDER}"
    assert request.headers["Authorization"] == "Bearer sk_test"
    form = dict(x.split("=") for x in request.content.decode().split("&"))
    assert (form["amount"], form["currency"], form["capture_method"]) == ("5544", "eur", "manual")


@pytest.mark.parametrize(
    ("decline_code", "reason"),
    [
        ("insufficient_funds", "insufficient_funds"),
        ("do_not_honor", "do_not_honour"),
        ("expired_card", "expired_card"),
        ("fraudulent", "fraud_suspected"),
        ("Card-Velocity Exceeded", "card_velocity_exceeded"),
    ],
)
async def test_card_declines_map_to_our_reason_codes(decline_code: str, reason: str) -> None:
    def answer(_: httpx.Request) -> httpx.Response:
        error = {"type": "card_error", "decline_code": decline_code, "message": "Declined."}
        return httpx.Response(402, json={"error": error})

    result = await card(answer).authorise(authorise_request())
    assert (result.approved, result.decline_code) == (False, reason)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_server_errors_and_throttling_are_transient(status: int) -> None:
    with pytest.raises(ProviderUnavailable) as failure:
        await card(lambda _: httpx.Response(status)).authorise(authorise_request())
    assert failure.value.kind == f"http_{status}"


async def test_timeouts_are_transient_and_bad_requests_are_not() -> None:
    def time_out(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ProviderUnavailable) as timeout:
        await card(time_out).capture(Capture("capture:1", ORDER, "pi_1", AMOUNT))
    assert timeout.value.kind == "timeout"
    with pytest.raises(ProviderRejected) as rejected:
        await card(lambda _: httpx.Response(404, json={})).capture(
            Capture("capture:1", ORDER, "pi_1", AMOUNT)
        )
    assert rejected.value.code == "http_404"


async def test_paypal_authorise_capture_and_refund() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/authorize"):
            authorization = {
                "id": "AUTH-1",
                "status": "CREATED",
                "amount": {"value": "55.44", "currency_code": "EUR"},
            }
            unit = {"payments": {"authorizations": [authorization]}}
            return httpx.Response(201, json={"purchase_units": [unit]})
        if path.endswith("/capture"):
            return httpx.Response(201, json={"id": "CAP-1", "status": "COMPLETED"})
        return httpx.Response(201, json={"id": "REF-1", "status": "COMPLETED"})

    provider = paypal(answer)
    authorised = await provider.authorise(authorise_request("PAYPAL-ORDER-1"))
    captured = await provider.capture(Capture("capture:p", ORDER, "AUTH-1", AMOUNT))
    refunded = await provider.refund(Refund("refund:r", ORDER, "CAP-1", Money.of("5.00", "EUR")))
    assert [r.reference for r in (authorised, captured, refunded)] == ["AUTH-1", "CAP-1", "REF-1"]
    assert [r.url.path for r in seen] == [
        "/v2/checkout/orders/PAYPAL-ORDER-1/authorize",
        "/v2/payments/authorizations/AUTH-1/capture",
        "/v2/payments/captures/CAP-1/refund",
    ]
    assert [r.headers["PayPal-Request-Id"] for r in seen] == [
        f"authorise:{ORDER}",
        "capture:p",
        "refund:r",
    ]
    assert json.loads(seen[2].content) == {"amount": {"value": "5.00", "currency_code": "EUR"}}


async def test_paypal_decline_and_amount_mismatch() -> None:
    def declined(_: httpx.Request) -> httpx.Response:
        details = [{"issue": "INSTRUMENT_DECLINED", "description": "Instrument declined."}]
        return httpx.Response(422, json={"name": "UNPROCESSABLE_ENTITY", "details": details})

    result = await paypal(declined).authorise(authorise_request("PAYPAL-ORDER-2"))
    assert (result.approved, result.decline_code) == (False, "do_not_honour")

    voided: list[str] = []

    def other_amount(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/void"):
            voided.append(request.url.path)
            return httpx.Response(204)
        authorization = {
            "id": "AUTH-9",
            "status": "CREATED",
            "amount": {"value": "1.00", "currency_code": "EUR"},
        }
        unit = {"payments": {"authorizations": [authorization]}}
        return httpx.Response(201, json={"purchase_units": [unit]})

    mismatch = await paypal(other_amount).authorise(authorise_request("PAYPAL-ORDER-3"))
    assert (mismatch.approved, mismatch.decline_code) == (False, "amount_mismatch")
    assert mismatch.conclusive  # the hold it found was released: that settles the key
    assert voided == ["/v2/payments/authorizations/AUTH-9/void"]


@pytest.mark.parametrize(
    ("failure", "kind", "unknown"),
    [
        (httpx.ConnectError, "connection_failed", False),  # never sent: nothing done
        (httpx.ConnectTimeout, "connection_failed", False),
        (httpx.PoolTimeout, "connection_failed", False),
        (httpx.ReadTimeout, "timeout", True),
        (httpx.RemoteProtocolError, "transport_error", True),  # sent, no answer
        (httpx.ReadError, "transport_error", True),
        (httpx.WriteError, "transport_error", True),  # part of it may have gone
    ],
)
async def test_only_a_connection_never_made_certainly_did_nothing(
    failure: type[httpx.TransportError], kind: str, unknown: bool
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("gone", request=request)

    with pytest.raises(ProviderUnavailable) as raised:
        await card(fail).authorise(authorise_request())
    assert (raised.value.kind, raised.value.outcome_unknown) == (kind, unknown)


async def test_a_paypal_hold_that_could_not_be_released_leaves_the_outcome_unknown() -> None:
    # The buyer approved another amount; the void of that hold answers 503. Declining would
    # leave the hold in place: the authorisation must be asked again.
    def other_amount_then_no_void(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/void"):
            return httpx.Response(503)
        authorization = {
            "id": "AUTH-10",
            "status": "CREATED",
            "amount": {"value": "1.00", "currency_code": "EUR"},
        }
        unit = {"payments": {"authorizations": [authorization]}}
        return httpx.Response(201, json={"purchase_units": [unit]})

    with pytest.raises(ProviderUnavailable) as raised:
        await paypal(other_amount_then_no_void).authorise(authorise_request("PAYPAL-ORDER-4"))
    assert (raised.value.kind, raised.value.outcome_unknown) == ("hold_not_released", True)


async def test_a_request_with_its_key_still_in_flight_is_an_unknown_outcome() -> None:
    # The card processor answers 409 while the first request with the key is processed: the
    # refund may be paid, so it must not end as a refusal (and be asked again under a new id).
    with pytest.raises(ProviderUnavailable) as raised:
        await card(lambda _: httpx.Response(409, json={})).refund(
            Refund("refund:1", ORDER, "pi_1", AMOUNT)
        )
    assert (raised.value.kind, raised.value.outcome_unknown) == ("http_409", True)


async def test_a_paypal_hold_whose_release_was_refused_is_declined_not_asked_for_ever() -> None:
    # Asked again, PayPal would refuse the release again: waiting stalled the partition.
    void_keys: list[str] = []

    def other_amount_then_refused_void(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/void"):
            void_keys.append(request.headers["PayPal-Request-Id"])
            return httpx.Response(422, json={"name": "UNPROCESSABLE_ENTITY"})
        return authorised("AUTH-11", "CREATED", {"value": "1.00", "currency_code": "EUR"})

    result = await paypal(other_amount_then_refused_void).authorise(
        authorise_request("PAYPAL-ORDER-5")
    )
    assert (result.approved, result.decline_code, result.reference) == (
        False,
        "amount_mismatch",
        "AUTH-11",
    )
    assert "refused to release the hold (http_422)" in result.message
    assert void_keys == [f"authorise:{ORDER}:amount-mismatch"]


def authorised(authorization_id: str, status: str, amount: object) -> httpx.Response:
    authorization = {"id": authorization_id, "status": status, "amount": amount}
    unit = {"payments": {"authorizations": [authorization]}}
    return httpx.Response(201, json={"purchase_units": [unit]})


@pytest.mark.parametrize(("status", "unknown"), [(408, True), (401, False)])
async def test_a_timeout_or_our_credentials_refused_are_unavailable_not_a_refusal(
    status: int, unknown: bool
) -> None:
    # Both were refusals: an authorisation declined invalid_token, a capture dead-lettered.
    # A 408 may come after the work (outcome unknown); a 401 refuses us before any.
    with pytest.raises(ProviderUnavailable) as raised:
        await card(lambda _: httpx.Response(status, json={})).capture(
            Capture("capture:1", ORDER, "pi_1", AMOUNT)
        )
    assert (raised.value.kind, raised.value.outcome_unknown) == (f"http_{status}", unknown)


async def test_paypal_gets_a_new_token_after_a_401_and_a_token_refused_is_unavailable() -> None:
    tokens: list[str] = []
    refused_once: list[bool] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            tokens.append("issued")
            if len(tokens) == 3:
                return httpx.Response(400, json={"error": "invalid_client"})
            return httpx.Response(200, json={"access_token": f"A{len(tokens)}", "expires_in": 3600})
        if not refused_once:  # the first token was revoked early
            refused_once.append(True)
            return httpx.Response(401, json={})
        return httpx.Response(201, json={"id": "CAP-1", "status": "COMPLETED"})

    client = httpx.AsyncClient(
        base_url="https://paypal.test", transport=httpx.MockTransport(answer)
    )
    provider = PayPalProvider(client, client_id="id", client_secret="secret")
    capture = Capture("capture:2", ORDER, "AUTH-1", AMOUNT)

    with pytest.raises(ProviderUnavailable) as first:
        await provider.capture(capture)
    assert (first.value.kind, first.value.outcome_unknown) == ("http_401", False)
    assert (await provider.capture(capture)).approved, "asked again with a new token"
    assert len(tokens) == 2

    provider._token = None  # expired: the next call asks for a token, which is refused
    with pytest.raises(ProviderUnavailable) as refused:
        await provider.capture(capture)
    assert (refused.value.kind, refused.value.outcome_unknown) == ("auth_failed", False)


@pytest.mark.parametrize(
    "token_answer",
    [httpx.Response(500, json={}), httpx.Response(200, content=b"<html>maintenance</html>")],
    ids=["failed", "no token"],
)
async def test_a_paypal_token_request_that_fails_leaves_nothing_done(
    token_answer: httpx.Response,
) -> None:
    # The payment's request was never sent: a 5xx or timeout of the token request read as an
    # unknown outcome, which retried an authorisation for ever instead of declining it, and
    # turned a later plain refusal of the key into "may have been paid".
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/oauth2/token":
            return token_answer
        return httpx.Response(201, json={})

    client = httpx.AsyncClient(
        base_url="https://paypal.test", transport=httpx.MockTransport(answer)
    )
    provider = PayPalProvider(client, client_id="id", client_secret="secret")

    with pytest.raises(ProviderUnavailable) as raised:
        await provider.authorise(authorise_request("PAYPAL-ORDER-9"))
    assert (raised.value.kind, raised.value.outcome_unknown) == ("auth_failed", False)


_OPERATIONS = [
    ("card", "authorise"),
    ("card", "capture"),
    ("card", "refund"),
    ("paypal", "authorise"),
    ("paypal", "capture"),
    ("paypal", "refund"),
]


def _call(provider: str, operation: str) -> Callable[[Callable[..., httpx.Response]], Any]:
    """One adapter call against a scripted answer, for the tables below."""

    async def call(answer: Callable[[httpx.Request], httpx.Response]) -> Any:
        adapter = card(answer) if provider == "card" else paypal(answer)
        if operation == "authorise":
            token = "pm_card" if provider == "card" else "PAYPAL-ORDER-7"
            return await adapter.authorise(authorise_request(token))
        if operation == "capture":
            return await adapter.capture(Capture("capture:u", ORDER, "AUTH-1", AMOUNT))
        return await adapter.refund(Refund("refund:u", ORDER, "CAP-1", AMOUNT))

    return call


@pytest.mark.parametrize(
    ("provider", "operation", "status", "body"),
    [
        ("card", "authorise", 200, b"<html>gateway</html>"),  # a proxy's page
        ("card", "capture", 200, b'{"id": "pi_1", "stat'),  # a cut body
        ("card", "refund", 200, b'{"status": "succeeded"}'),  # no id
        ("card", "refund", 200, b'["re_1"]'),  # another shape
        ("paypal", "authorise", 201, b'{"purchase_units": []}'),
        ("paypal", "capture", 201, b"OK"),
        ("paypal", "refund", 201, b'{"id": null, "status": "COMPLETED"}'),
    ],
)
async def test_a_success_answer_we_cannot_read_leaves_the_outcome_unknown(
    provider: str, operation: str, status: int, body: bytes
) -> None:
    # The provider may have moved the money: the call is asked again with its key, never
    # taken as a refusal nor dead-lettered as a bug of ours.
    with pytest.raises(ProviderUnavailable) as raised:
        await _call(provider, operation)(lambda _: httpx.Response(status, content=body))
    assert (raised.value.kind, raised.value.outcome_unknown) == ("unreadable_answer", True)


@pytest.mark.parametrize(
    ("provider", "operation", "answer", "code"),
    [
        ("card", "capture", {"id": "pi_1", "status": "canceled"}, "capture_failed"),
        ("card", "capture", {"id": "pi_1", "status": "requires_payment_method"}, "capture_failed"),
        ("card", "refund", {"id": "re_1", "status": "canceled"}, "provider_refused"),
        ("card", "refund", {"id": "re_1", "status": "failed"}, "provider_refused"),
        ("paypal", "capture", {"id": "CAP-1", "status": "DECLINED"}, "capture_failed"),
        ("paypal", "capture", {"id": "CAP-1", "status": "FAILED"}, "capture_failed"),
        ("paypal", "refund", {"id": "REF-1", "status": "CANCELLED"}, "provider_refused"),
    ],
)
async def test_a_capture_or_refund_answered_as_failed_moved_no_money(
    provider: str, operation: str, answer: dict[str, str], code: str
) -> None:
    status = 200 if provider == "card" else 201
    result = await _call(provider, operation)(lambda _: httpx.Response(status, json=answer))
    assert (result.approved, result.decline_code, result.reference) == (
        False,
        code,
        answer["id"],
    )


@pytest.mark.parametrize(
    ("status", "body", "unknown"),
    [
        (403, b'{"error": {"message": "key lacks permission"}}', False),  # our key's rights
        (403, b"<html>blocked by the firewall</html>", False),  # an IP allow-list
        (407, b"", False),  # our egress proxy wants credentials
        (302, b"", False),  # a maintenance redirect (never followed): not the provider
        (307, b"", False),
        (303, b"", True),  # "see other": processed, the answer elsewhere: outcome unknown
        (421, b"", False),  # not processed, by its definition
        (404, b"<html>no route</html>", False),  # a gateway's page, not the provider's
        (404, b"", False),
    ],
)
@pytest.mark.parametrize(("provider", "operation"), [*_OPERATIONS])
async def test_what_our_infrastructure_answers_is_unavailable_not_a_refusal(
    provider: str, operation: str, status: int, body: bytes, unknown: bool
) -> None:
    # Each was the provider refusing the request: an authorisation declined invalid_token
    # (the customer told their payment was wrong), a capture or void dead-lettered, a refund
    # refused for good. Our credentials' rights, our proxy, a redirect or a route nobody
    # knows is infrastructure: the same call succeeds once it is fixed.
    with pytest.raises(ProviderUnavailable) as raised:
        await _call(provider, operation)(lambda _: httpx.Response(status, content=body))
    redirected = 300 <= status < 400 and status != 303
    kind = "redirected" if redirected else "no_route" if status == 404 else f"http_{status}"
    assert (raised.value.kind, raised.value.outcome_unknown) == (kind, unknown)


@pytest.mark.parametrize(("provider", "operation"), [*_OPERATIONS])
async def test_a_body_we_cannot_decode_is_an_unknown_outcome(provider: str, operation: str) -> None:
    # httpx asks for gzip; a corrupt compressed body raised DecodingError, which no adapter
    # caught: the handler failed unclassified and the record was dead-lettered, although the
    # provider may have moved the money.
    def corrupt(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip at all")

    with pytest.raises(ProviderUnavailable) as raised:
        await _call(provider, operation)(corrupt)
    assert (raised.value.kind, raised.value.outcome_unknown) == ("unreadable_answer", True)


@pytest.mark.parametrize(
    ("provider", "operation", "status", "code"),
    [
        ("card", "authorise", 402, "declined"),
        ("card", "refund", 402, "provider_refused"),
        ("paypal", "authorise", 422, "declined"),
        ("paypal", "refund", 422, "provider_refused"),
    ],
)
async def test_a_refusal_whose_body_cannot_be_read_is_still_a_refusal(
    provider: str, operation: str, status: int, code: str
) -> None:
    result = await _call(provider, operation)(
        lambda _: httpx.Response(status, content=b"<html>refused</html>")
    )
    assert (result.approved, result.decline_code) == (False, code)


@pytest.mark.parametrize(
    ("provider", "operation", "answer"),
    [
        ("card", "capture", {"id": "pi_1"}),  # no status
        ("card", "capture", {"id": "pi_1", "status": "requires_capture"}),  # not captured yet
        ("card", "refund", {"id": "re_1"}),
        ("paypal", "capture", {"id": "CAP-1"}),
        ("paypal", "capture", {"id": "CAP-1", "status": "SOMETHING_NEW"}),
        ("paypal", "refund", {"id": "REF-1", "status": 7}),
    ],
)
async def test_a_capture_or_refund_whose_status_is_not_understood_is_not_taken_as_done(
    provider: str, operation: str, answer: dict[str, Any]
) -> None:
    status = 200 if provider == "card" else 201
    with pytest.raises(ProviderUnavailable) as raised:
        await _call(provider, operation)(lambda _: httpx.Response(status, json=answer))
    assert (raised.value.kind, raised.value.outcome_unknown) == ("unreadable_answer", True)


@pytest.mark.parametrize(
    ("provider", "operation", "answer"),
    [
        ("card", "capture", {"id": "pi_1", "status": "processing"}),
        ("card", "refund", {"id": "re_1", "status": "pending"}),
        ("paypal", "capture", {"id": "CAP-1", "status": "PENDING"}),
        ("paypal", "refund", {"id": "REF-1", "status": "PENDING"}),
    ],
)
async def test_a_capture_or_refund_settling_later_is_taken_as_done(
    provider: str, operation: str, answer: dict[str, Any]
) -> None:
    status = 200 if provider == "card" else 201
    result = await _call(provider, operation)(lambda _: httpx.Response(status, json=answer))
    assert (result.approved, result.reference) == (True, answer["id"])


async def test_a_paypal_authorisation_is_judged_by_its_status_before_its_amount() -> None:
    voided: list[str] = []

    def denied_other_amount(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/void"):
            voided.append(request.url.path)
            return httpx.Response(422, json={})
        return authorised("AUTH-12", "DENIED", {"value": "1.00", "currency_code": "EUR"})

    result = await paypal(denied_other_amount).authorise(authorise_request("PAYPAL-ORDER-8"))
    assert (result.approved, result.decline_code) == (False, "do_not_honour")
    assert voided == [], "nothing is held: nothing to release"


async def test_a_paypal_amount_is_compared_as_a_number_and_must_be_there() -> None:
    same = await paypal(
        lambda _: authorised("AUTH-13", "CREATED", {"value": "55.4400", "currency_code": "EUR"})
    ).authorise(authorise_request("PAYPAL-ORDER-9"))
    assert (same.approved, same.reference) == (True, "AUTH-13")

    with pytest.raises(ProviderUnavailable) as raised:
        await paypal(lambda _: authorised("AUTH-14", "CREATED", None)).authorise(
            authorise_request("PAYPAL-ORDER-10")
        )
    assert (raised.value.kind, raised.value.outcome_unknown) == ("unreadable_answer", True)


@pytest.mark.parametrize(
    ("provider", "status", "answer", "outcome"),
    [
        ("card", 200, {"id": "pi_1", "status": "canceled"}, "approved"),
        ("card", 200, {"id": "pi_1", "status": "succeeded"}, "not_cancelled"),
        ("card", 200, {"id": "pi_1"}, "unreadable_answer"),
        ("paypal", 204, None, "approved"),
        ("paypal", 200, {"id": "AUTH-1", "status": "VOIDED"}, "approved"),
        ("paypal", 200, {"id": "AUTH-1", "status": "CAPTURED"}, "not_voided"),
        ("paypal", 200, {"id": "AUTH-1"}, "unreadable_answer"),
    ],
)
async def test_a_void_is_done_only_when_its_answer_says_so(
    provider: str, status: int, answer: dict[str, str] | None, outcome: str
) -> None:
    adapter = card if provider == "card" else paypal
    provider_call = adapter(lambda _: httpx.Response(status, json=answer)).void(
        Void("void:1", ORDER, "AUTH-1", AMOUNT)
    )
    try:
        result = await provider_call
        seen = "approved" if result.approved else "declined"
    except ProviderRejected as refused:
        seen = refused.code
    except ProviderUnavailable as unknown:
        seen = unknown.kind
    assert seen == outcome


async def test_a_failure_message_never_carries_the_paypal_token() -> None:
    with pytest.raises(ProviderUnavailable) as raised:
        await paypal(lambda _: httpx.Response(500, json={})).authorise(
            authorise_request("5O190127TN364715T")
        )
    assert "5O190127TN364715T" not in str(raised.value)
    assert str(raised.value) == "http_500: /v2/checkout/orders/{id}/authorize"


@pytest.mark.parametrize("number", ["4111111111111111", "4111 1111 1111 1111"])
async def test_a_providers_words_never_carry_a_card_number_into_what_we_publish(
    number: str,
) -> None:
    def declined(_: httpx.Request) -> httpx.Response:
        error = {"decline_code": number, "message": f"card {number} declined"}
        return httpx.Response(402, json={"error": error})

    result = await card(declined).authorise(authorise_request())
    assert "1111" not in f"{result.decline_code} {result.message}"
    assert result.decline_code == "declined"
    assert result.message.startswith("card ")
    assert result.message.endswith(" declined")


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("DENIED", "declined"),
        ("EXPIRED", "declined"),
        (None, "unreadable_answer"),  # a hold may exist: never declined on a guess
        ("CAPTURED", "unreadable_answer"),
    ],
)
async def test_a_paypal_authorisation_is_declined_only_when_nothing_is_held(
    status: str | None, outcome: str
) -> None:
    authorization = {"value": "55.44", "currency_code": "EUR"}
    answer = authorised("AUTH-15", status, authorization)  # type: ignore[arg-type]
    try:
        result = await paypal(lambda _: answer).authorise(authorise_request("PAYPAL-ORDER-11"))
        seen = "approved" if result.approved else "declined"
    except ProviderUnavailable as unknown:
        seen = unknown.kind
    assert seen == outcome


def taken_at_once(
    status: str,
    *,
    cancel: httpx.Response,
    now: str | None = "succeeded",
    refunds: list[httpx.Response] | None = None,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[str]]:
    """A processor that answers the authorisation with ``status``, the intent's lookup with
    ``now``, and refunds with ``refunds`` in turn; what it was asked (path and key)."""
    asked: list[str] = []
    answers = list(refunds or [])

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(
            f"{request.method} {request.url.path} {request.headers.get('Idempotency-Key')}"
        )
        if request.url.path == "/v1/payment_intents":
            return httpx.Response(200, json={"id": "pi_9", "status": status})
        if request.url.path.endswith("/cancel"):
            return cancel
        if request.method == "GET":
            return httpx.Response(200, json={"id": "pi_9", "status": now})
        return answers.pop(0)

    return answer, asked


CANCELLED = httpx.Response(200, json={"id": "pi_9", "status": "canceled"})
NOT_CANCELLABLE = httpx.Response(400, json={"error": {"code": "payment_intent_unexpected_state"}})
REFUNDED = httpx.Response(200, json={"id": "re_9", "status": "succeeded"})


async def test_a_card_authorisation_taken_at_once_is_cancelled_before_the_decline() -> None:
    answer, asked = taken_at_once("processing", cancel=CANCELLED)

    result = await card(answer).authorise(authorise_request())

    assert (result.approved, result.reference, result.conclusive) == (False, "pi_9", True)
    assert "cancelled" in result.message
    assert asked[1] == f"POST /v1/payment_intents/pi_9/cancel authorise:{ORDER}:undo-cancel"


async def test_a_card_authorisation_captured_at_once_is_refunded_before_the_decline() -> None:
    answer, asked = taken_at_once("succeeded", cancel=NOT_CANCELLABLE, refunds=[REFUNDED])

    result = await card(answer).authorise(authorise_request())

    assert (result.approved, result.decline_code) == (False, "do_not_honour")
    assert "refunded" in result.message
    assert asked[2:] == [
        "GET /v1/payment_intents/pi_9 None",
        f"POST /v1/refunds authorise:{ORDER}:undo-refund",
    ]


async def test_a_payment_that_failed_while_processing_is_declined_without_a_refund() -> None:
    # The replayed creation would still say processing: the intent's status now is read.
    answer, asked = taken_at_once(
        "processing", cancel=NOT_CANCELLABLE, now="requires_payment_method"
    )

    result = await card(answer).authorise(authorise_request())

    assert "nothing was taken" in result.message
    assert not any("/v1/refunds" in call for call in asked)


@pytest.mark.parametrize(
    ("now", "refund"),
    [("processing", None), ("succeeded", httpx.Response(500)), (None, None)],
)
async def test_a_card_payment_not_yet_undone_is_an_unknown_outcome(
    now: str | None, refund: httpx.Response | None
) -> None:
    answer, _ = taken_at_once(
        "succeeded",
        cancel=NOT_CANCELLABLE,
        now=now,
        refunds=[refund] if refund else [],
    )

    with pytest.raises(ProviderUnavailable) as unknown:
        await card(answer).authorise(authorise_request())
    assert (unknown.value.kind, unknown.value.outcome_unknown) == ("payment_not_undone", True)


async def test_a_refused_refund_of_a_payment_taken_at_once_is_counted_for_ops() -> None:
    refused = httpx.Response(400, json={"error": {"message": "No refundable charge."}})
    answer, _ = taken_at_once("succeeded", cancel=NOT_CANCELLABLE, refunds=[refused])
    kept = PAYMENTS_KEPT_ON_DECLINE.labels("card-processor")
    before = kept._value.get()

    result = await card(answer).authorise(authorise_request())

    assert (result.approved, result.conclusive) == (False, True)
    assert "its refund was refused by the processor (provider_refused)" in result.message
    assert kept._value.get() == before + 1


async def test_an_undo_that_went_unanswered_once_still_says_what_became_of_the_money() -> None:
    # The first refund timed out: the authorisation's key is then one with an unanswered
    # call, and a plain decline after it would read "refused after an unanswered call".
    answer, asked = taken_at_once(
        "succeeded", cancel=NOT_CANCELLABLE, refunds=[httpx.Response(500), REFUNDED]
    )
    provider = card(answer)
    settings = PaymentSettings(
        provider_retry_attempts=2,
        provider_retry_initial_delay_s=0.001,
        provider_retry_max_delay_s=0.001,
    )

    async def no_pause(_: float) -> None:
        return None

    request = authorise_request()
    result = await call_provider(
        "authorise",
        request.idempotency_key,
        lambda: provider.authorise(request),
        settings=settings,
        sleep=no_pause,
    )

    assert "it was refunded" in result.message
    assert asked.count(f"POST /v1/refunds authorise:{ORDER}:undo-refund") == 2


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("requires_payment_method", "declined"),
        ("requires_action", "declined"),
        ("canceled", "declined"),
        ("requires_capture", "approved"),
        (None, "unreadable_answer"),  # a hold may exist: never declined on a guess
        ("mystery", "unreadable_answer"),
    ],
)
async def test_a_card_authorisation_is_declined_only_when_nothing_is_held(
    status: str | None, outcome: str
) -> None:
    answer = httpx.Response(200, json={"id": "pi_3", "status": status})
    try:
        result = await card(lambda _: answer).authorise(authorise_request())
        seen = "approved" if result.approved else "declined"
    except ProviderUnavailable as unknown:
        seen = unknown.kind
    assert seen == outcome


@pytest.mark.parametrize(
    ("lookup", "cancel_again", "expected"),
    [
        # The lookup refused (a restricted key): nothing is known, nothing was refunded.
        (httpx.Response(400, json={}), None, "its status was refused by the processor (http_400)"),
        # A hold after all: cancelled under a fresh key (the first cancel's answer is stored).
        (
            httpx.Response(200, json={"id": "pi_9", "status": "requires_capture"}),
            CANCELLED,
            "it was cancelled",
        ),
        # ... or refused again: the refusal is named.
        (
            httpx.Response(200, json={"id": "pi_9", "status": "requires_capture"}),
            NOT_CANCELLABLE,
            "its hold was refused by the processor (http_400)",
        ),
    ],
)
async def test_a_payment_whose_status_is_not_what_the_cancel_said_is_undone_or_reported(
    lookup: httpx.Response, cancel_again: httpx.Response | None, expected: str
) -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(
            f"{request.method} {request.url.path} {request.headers.get('Idempotency-Key')}"
        )
        if request.url.path == "/v1/payment_intents":
            return httpx.Response(200, json={"id": "pi_9", "status": "processing"})
        if request.method == "GET":
            return lookup
        key = request.headers["Idempotency-Key"]
        if key.endswith(":undo-cancel-held") and cancel_again is not None:
            return cancel_again
        return NOT_CANCELLABLE

    result = await card(answer).authorise(authorise_request())

    assert expected in result.message
    assert not any("/v1/refunds" in call for call in asked)
    assert result.conclusive is (cancel_again is CANCELLED)
