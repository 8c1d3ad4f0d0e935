"""Ledger transactions balance per currency; every movement has its postings."""

from __future__ import annotations

import uuid

import pytest
from orderflow_contracts.money import Money
from orderflow_payment.domain import ledger
from orderflow_payment.domain.ledger import (
    Account,
    LedgerTransaction,
    Posting,
    TransactionKind,
    UnbalancedTransaction,
)

ORDER, PAYMENT, REFUND = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def rows(transaction: LedgerTransaction) -> list[tuple[str, int]]:
    return [(p.account.value, p.amount.minor_units) for p in transaction.postings]


def test_each_movement_posts_balanced_entries() -> None:
    amount = Money.of("55.44", "EUR")
    assert rows(ledger.authorisation(ORDER, PAYMENT, amount)) == [
        ("authorisation_holds", 5544),
        ("customer_authorisations", -5544),
    ]
    assert rows(ledger.capture(ORDER, PAYMENT, amount)) == [
        ("customer_authorisations", 5544),
        ("authorisation_holds", -5544),
        ("provider_receivable", 5544),
        ("sales", -5544),
    ]
    assert rows(ledger.void(ORDER, PAYMENT, amount)) == [
        ("customer_authorisations", 5544),
        ("authorisation_holds", -5544),
    ]
    assert rows(ledger.refund(ORDER, PAYMENT, REFUND, Money.of("20.00", "EUR"))) == [
        ("refunds", 2000),
        ("provider_receivable", -2000),
    ]


def test_a_full_lifecycle_leaves_receivable_equal_to_captured_minus_refunded() -> None:
    amount = Money.of("12000", "JPY")
    transactions = [
        ledger.authorisation(ORDER, PAYMENT, amount),
        ledger.capture(ORDER, PAYMENT, amount),
        ledger.refund(ORDER, PAYMENT, REFUND, Money.of("2500", "JPY")),
    ]
    balances: dict[str, int] = {}
    for transaction in transactions:
        for posting in transaction.postings:
            balances[posting.account] = (
                balances.get(posting.account, 0) + posting.amount.minor_units
            )
    assert balances == {
        Account.AUTHORISATION_HOLDS: 0,
        Account.CUSTOMER_AUTHORISATIONS: 0,
        Account.PROVIDER_RECEIVABLE: 9500,
        Account.SALES: -12000,
        Account.REFUNDS: 2500,
    }
    assert sum(balances.values()) == 0


def test_idempotency_keys_name_the_movement() -> None:
    amount = Money.of("1.00", "EUR")
    assert ledger.capture(ORDER, PAYMENT, amount).idempotency_key == f"ledger:capture:{PAYMENT}"
    assert ledger.refund(ORDER, PAYMENT, REFUND, amount).idempotency_key == (
        f"ledger:refund:{REFUND}"
    )


@pytest.mark.parametrize(
    ("postings", "message"),
    [
        ((Posting(Account.SALES, Money.of("1.00", "EUR")),), "at least two"),
        (
            (
                Posting(Account.PROVIDER_RECEIVABLE, Money.of("1.00", "EUR")),
                Posting(Account.SALES, Money.of("-0.99", "EUR")),
            ),
            "differ",
        ),
        (
            (
                Posting(Account.PROVIDER_RECEIVABLE, Money.of("1.00", "EUR")),
                Posting(Account.SALES, Money.of("-1.00", "USD")),
            ),
            "one currency",
        ),
        (
            (
                Posting(Account.PROVIDER_RECEIVABLE, Money.of("0.00", "EUR")),
                Posting(Account.SALES, Money.of("0.00", "EUR")),
            ),
            "zero",
        ),
    ],
)
def test_unbalanced_transactions_are_refused(postings: tuple[Posting, ...], message: str) -> None:
    with pytest.raises(UnbalancedTransaction, match=message):
        LedgerTransaction(TransactionKind.CAPTURE, ORDER, PAYMENT, "k", postings)


def test_a_movement_must_be_positive() -> None:
    with pytest.raises(UnbalancedTransaction, match="positive"):
        ledger.refund(ORDER, PAYMENT, REFUND, Money.of("-1.00", "EUR"))
