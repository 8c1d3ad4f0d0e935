"""The double-entry ledger: every money movement as balanced postings, per currency.

Accounts (debit positive, credit negative; each transaction sums to zero in its currency):

| account | normal side | balance means |
|---|---|---|
| `authorisation_holds` | debit | funds a provider holds for us on customers' payment methods |
| `customer_authorisations` | credit | what customers committed and we may still capture |
| `provider_receivable` | debit | captured money the provider owes us (settles to merchant cash) |
| `sales` | credit | revenue from captured payments |
| `refunds` | debit | money given back (contra revenue) |

Per order: `provider_receivable` = captured - refunded, and the holds are open only while the
payment is authorised. Reconciliation checks both.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from orderflow_contracts.money import Money


class Account(StrEnum):
    AUTHORISATION_HOLDS = "authorisation_holds"
    CUSTOMER_AUTHORISATIONS = "customer_authorisations"
    PROVIDER_RECEIVABLE = "provider_receivable"
    SALES = "sales"
    REFUNDS = "refunds"


class TransactionKind(StrEnum):
    AUTHORISATION = "authorisation"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class UnbalancedTransaction(ValueError):
    pass


@dataclass(frozen=True)
class Posting:
    """One ledger row: a debit (positive) or a credit (negative) of one account."""

    account: Account
    amount: Money


@dataclass(frozen=True)
class LedgerTransaction:
    kind: TransactionKind
    order_id: uuid.UUID
    payment_id: uuid.UUID
    idempotency_key: str
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedTransaction("a transaction needs at least two postings")
        currencies = {posting.amount.currency for posting in self.postings}
        if len(currencies) != 1:
            raise UnbalancedTransaction("a transaction's postings must share one currency")
        if any(posting.amount.is_zero for posting in self.postings):
            raise UnbalancedTransaction("a posting of zero moves nothing")
        (currency,) = currencies
        if not Money.total((p.amount for p in self.postings), currency).is_zero:
            raise UnbalancedTransaction("debits and credits differ")

    @property
    def currency(self) -> str:
        return self.postings[0].amount.currency.value


def _pair(debit: Account, credit: Account, amount: Money) -> tuple[Posting, Posting]:
    if not amount.is_positive:
        raise UnbalancedTransaction("a movement must be a positive amount")
    return Posting(debit, amount), Posting(credit, -amount)


def authorisation(order_id: uuid.UUID, payment_id: uuid.UUID, amount: Money) -> LedgerTransaction:
    """The provider holds ``amount`` for us: a memo pair, no money moved yet."""
    return LedgerTransaction(
        TransactionKind.AUTHORISATION,
        order_id,
        payment_id,
        f"ledger:authorisation:{payment_id}",
        _pair(Account.AUTHORISATION_HOLDS, Account.CUSTOMER_AUTHORISATIONS, amount),
    )


def capture(order_id: uuid.UUID, payment_id: uuid.UUID, amount: Money) -> LedgerTransaction:
    """The hold becomes a sale: release the hold, book the receivable and the revenue."""
    return LedgerTransaction(
        TransactionKind.CAPTURE,
        order_id,
        payment_id,
        f"ledger:capture:{payment_id}",
        _pair(Account.CUSTOMER_AUTHORISATIONS, Account.AUTHORISATION_HOLDS, amount)
        + _pair(Account.PROVIDER_RECEIVABLE, Account.SALES, amount),
    )


def void(order_id: uuid.UUID, payment_id: uuid.UUID, amount: Money) -> LedgerTransaction:
    """The hold is released without charging anything."""
    return LedgerTransaction(
        TransactionKind.VOID,
        order_id,
        payment_id,
        f"ledger:void:{payment_id}",
        _pair(Account.CUSTOMER_AUTHORISATIONS, Account.AUTHORISATION_HOLDS, amount),
    )


def refund(
    order_id: uuid.UUID, payment_id: uuid.UUID, refund_id: uuid.UUID, amount: Money
) -> LedgerTransaction:
    """Money goes back to the customer out of what the provider owes us."""
    return LedgerTransaction(
        TransactionKind.REFUND,
        order_id,
        payment_id,
        f"ledger:refund:{refund_id}",
        _pair(Account.REFUNDS, Account.PROVIDER_RECEIVABLE, amount),
    )
