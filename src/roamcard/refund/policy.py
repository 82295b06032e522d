"""What of a recharge can be refunded: only the unused part.

* Balance: the balance that order credited and that is still unspent (the wallet is one pot, so "unspent"
  is the smaller of what the order credited, less what refunds already took back, and the wallet's
  balance now). Partial refunds are allowed; the money paid back is in proportion to the balance taken
  back, rounded in the operator's favour by at most one minor unit.
* Packs (data, voice, SMS) and bundles: only while every pack of the order is wholly unused and
  unexpired, and then only in full.
* A promoted order: its discount is simply not paid back (the money is in proportion to what was
  charged); an order that was given a bonus is not refundable here (not built: reversing the bonus).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.kit.clock import as_utc
from roamcard.ledger import repository as ledger_repository
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.models import Allowance, LedgerAccount, TopupOrder
from roamcard.refund import repository
from roamcard.refund.states import HOLDING_MONEY, HOLDING_VALUE
from roamcard.topup.states import TopupStatus


@dataclass(frozen=True)
class GrantValue:
    index: int
    asset: str
    account_id: int
    granted: int
    available: int  # what can be taken back now
    allowance_id: int | None = None

    @property
    def is_pack(self) -> bool:
        return self.allowance_id is not None or self.asset not in CURRENCY_ASSETS


@dataclass(frozen=True)
class Refundable:
    amount: int  # money that may still go back, minor units of `currency`
    currency: str
    partial: bool  # whether less than `amount` may be asked for
    price: int
    grants: list[GrantValue] = field(default_factory=list)


class NotRefundable(Exception):
    pass


def refundable(session: Session, order: TopupOrder, *, exclude: str | None = None) -> Refundable:
    """`exclude` leaves one refund out of the sums (the one being approved)."""
    nothing = Refundable(0, order.price_currency, False, order.price_amount)
    if order.status != TopupStatus.FULFILLED.value:
        return nothing
    if repository.succeeded_payment_for_order(session, order.id) is None:
        return nothing  # vouchers and other channels without a gateway payment: not refunded here
    if any(item.get("kind") == "bonus" for item in order.promotions or []):
        # A promotion's bonus is not reversed nor its use deducted yet: such an order is refunded by
        # customer service outside this flow rather than with its bonus kept (docs/operations.md).
        return nothing
    others = [r for r in repository.list_for_order(session, order.id) if r.id != exclude]
    money_held = sum(r.amount for r in others if r.status in HOLDING_MONEY)
    reversed_by_index: dict[int, int] = {}
    for refund in others:
        if refund.status in HOLDING_VALUE:
            for item in refund.reversals:
                reversed_by_index[item["index"]] = reversed_by_index.get(item["index"], 0) + item["amount"]
    allowances = {a.account_id: a for a in repository.allowances_of_order(session, order.id)}
    grants = [
        _grant_value(session, order, index, grant, reversed_by_index.get(index, 0), allowances)
        for index, grant in enumerate(order.grants)
    ]
    money_left = max(0, order.price_amount - money_held)
    if any(g.is_pack for g in grants):
        whole = all(g.available == g.granted for g in grants)
        return Refundable(
            money_left if whole and money_held == 0 else 0,
            order.price_currency,
            False,
            order.price_amount,
            grants,
        )
    credited = sum(g.granted for g in grants)
    available = sum(g.available for g in grants)
    money = order.price_amount * available // credited if credited else 0
    return Refundable(min(money, money_left), order.price_currency, True, order.price_amount, grants)


def _grant_value(
    session: Session,
    order: TopupOrder,
    index: int,
    grant: dict[str, object],
    already_reversed: int,
    allowances: dict[int, Allowance],
) -> GrantValue:
    asset = str(grant["asset"])
    granted = int(str(grant["amount"]))
    if asset in CURRENCY_ASSETS:
        wallet = ledger.find_wallet_account(session, order.card_id, asset)
        if wallet is None:  # never credited in this currency: nothing of it is left to refund
            return GrantValue(index, asset, 0, granted, 0)
        session.refresh(wallet)
        available = max(0, min(granted - already_reversed, wallet.balance))
        return GrantValue(index, asset, wallet.id, granted, available)
    account = ledger_repository.get_account_by_code(
        session, f"card:{order.card_id}:allowance:{order.id}:fulfil:{index}"
    )
    if account is None:
        return GrantValue(index, asset, 0, granted, 0, allowance_id=-1)
    session.refresh(account)
    allowance = allowances.get(account.id)
    unused = (
        allowance is not None
        and allowance.expired_at is None
        and as_utc(allowance.expires_at) > clock.now()
        and account.balance == allowance.total
        and already_reversed == 0
    )
    return GrantValue(
        index,
        asset,
        account.id,
        granted,
        account.balance if unused else 0,
        allowance_id=allowance.id if allowance is not None else -1,
    )


def reversals_for(value: Refundable, amount: int) -> list[dict[str, int | str]]:
    """What to take back from the card for `amount` of money paid back."""
    if amount <= 0 or amount > value.amount:
        raise NotRefundable(f"{amount} exceeds the refundable {value.amount}")
    if not value.partial:
        if amount != value.amount:
            raise NotRefundable("packs are refunded whole")
        return [_reversal(g, g.available) for g in value.grants if g.available > 0]
    credited = sum(g.granted for g in value.grants)
    needed = -(-amount * credited // value.price)  # round up: never pay back more than is taken back
    reversals = []
    for grant in value.grants:
        take = min(grant.available, needed)
        if take > 0:
            reversals.append(_reversal(grant, take))
            needed -= take
    if needed > 0:
        raise NotRefundable("the balance is no longer there")
    return reversals


def _reversal(grant: GrantValue, amount: int) -> dict[str, int | str]:
    item: dict[str, int | str] = {
        "index": grant.index,
        "asset": grant.asset,
        "account_id": grant.account_id,
        "amount": amount,
    }
    if grant.allowance_id is not None and grant.allowance_id > 0:
        item["allowance_id"] = grant.allowance_id
    return item


def account_of(session: Session, account_id: int) -> LedgerAccount:
    account = session.get(LedgerAccount, account_id, populate_existing=True)
    assert account is not None
    return account
