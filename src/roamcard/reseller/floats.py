"""The prepaid float of anyone who sells our top-ups (a dealer, a partner platform), one mechanism for
both.

A float is a ledger account in the seller's currency with a cached balance and a lower bound: 0 for a
prepaid float, `-credit_limit` for a seller who may owe us up to a limit (post-paid). A sale is paid at
face value less the seller's commission: the net leaves the float by a guarded debit (so the float never
passes its bound, even under parallel sales) and the commission is booked as an expense (an operator
account per kind of seller), so the other side always receives the full face value. A sale the float
cannot pay is refused with 402 `insufficient_float`, and the caller's savepoint undoes everything it did.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.errors import AppError
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import AccountKind
from roamcard.lifecycle import as_tx
from roamcard.models import LedgerAccount


class InsufficientFloat(AppError):
    status_code = 402
    code = "insufficient_float"
    message = "Your prepaid balance is not enough for this sale. Top up your float first."


class CreditReferenceReused(ValueError):
    """A float credit under a reference already credited with another amount."""

    def __init__(self, existing: object) -> None:
        super().__init__(f"already credited with {existing}")
        self.existing = existing


@dataclass(frozen=True)
class Seller:
    """What paying from a float needs to know of the seller."""

    float_account_id: int
    commission_bps: int
    currency: str
    commission_purpose: str  # the operator account its commission is booked on (an expense)


def commission_of(face: Money, commission_bps: int) -> Money:
    """The seller's share of a sale, rounded down to the minor unit (never more than agreed)."""
    return Money(face.amount * commission_bps // 10_000, face.currency)


def open_float(session: Session, code: str, currency: str, *, credit_limit: int = 0) -> LedgerAccount:
    """A new float account: never below `-credit_limit`."""
    return ledger.ensure_account(session, code, currency, AccountKind.DEALER_FLOAT, lower_bound=-credit_limit)


_FLOAT = "SELECT id, code, asset, tracks_balance, balance, lower_bound FROM ledger_accounts WHERE id = :id"


def pay(
    db: Session | Tx,
    seller: Seller,
    *,
    key: str,
    face: Money,
    credit: ledger.Account,
    reference: str,
    reason: str,
) -> tuple[Money, Money]:
    """Debit the float (net, `reason`) and the commission expense (`<reason>_commission`) for a sale of
    `face` credited to `credit`; returns (commission, net). Raises InsufficientFloat."""
    tx = as_tx(db)
    commission = commission_of(face, seller.commission_bps)
    net = face - commission
    row = tx.one(_FLOAT, id=seller.float_account_id)
    assert row is not None
    account = ledger.Account(id=int(row[0]), code=row[1], asset=row[2], tracks_balance=bool(row[3]))
    if row[5] is not None and row[4] - net.amount < row[5]:
        raise InsufficientFloat()
    try:
        ledger.transfer(
            tx,
            key=f"{key}:net",
            debit=account,
            credit=credit,
            amount=net.amount,
            reason=reason,
            reference=reference,
        )
    except ledger.InsufficientBalance:  # a parallel sale spent it since we looked
        raise InsufficientFloat() from None
    if commission.amount:
        ledger.transfer(
            tx,
            key=f"{key}:commission",
            debit=ledger.operator(tx, seller.commission_purpose, seller.currency),
            credit=credit,
            amount=commission.amount,
            reason=f"{reason.removesuffix('_sale')}_commission",
            reference=reference,
        )
    return commission, net


def credit(
    session: Session,
    *,
    account: LedgerAccount,
    source: str,
    key: str,
    amount: int,
    reason: str,
    reference: str,
) -> Money:
    """Money received from the seller goes onto its float, from the operator account `source`; a second
    credit under the same `key` is a no-op (CreditReferenceReused with another amount). Returns the new
    balance."""
    try:
        ledger.transfer(
            session,
            key=key[:160],
            debit=ledger.operator_account(session, source, account.asset),
            credit=account,
            amount=amount,
            reason=reason,
            reference=reference[:64],
        )
    except ledger.TransferKeyReused as exc:
        if exc.field != "amount":
            raise
        raise CreditReferenceReused(exc.existing) from exc
    session.refresh(account)
    return Money(account.balance, account.asset)
