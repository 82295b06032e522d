"""What of a recharge can be refunded: only the unused part.

* Balance: the balance that order credited and that is still unspent (the wallet is one pot, so "unspent"
  is the smaller of what the order credited, less what refunds already took back, and the wallet's
  balance now). Partial refunds are allowed; the money paid back is in proportion to the balance taken
  back, rounded in the operator's favour by at most one minor unit.
* Packs (data, voice, SMS) and bundles: only while every pack of the order is wholly unused and
  unexpired, and then only in full.
* A promoted order: its discount is simply not paid back (the money is in proportion to what was
  charged). A bonus that was never used is taken back with the order (back to promotion expense); what of
  a bonus was consumed is deducted from the money, at the bonus's declared worth in proportion to the
  part consumed (rounded up). An order with a bonus is refunded in one go (not in parts), and only while
  nothing of it has been refunded yet.
* "Consumed" is read from the balances: a bonus pack's consumed part is what it was granted less what is
  left on it and less what expiry moved away; a bonus balance shares the wallet with the order's own
  credit, and what of that credit (product plus bonus) is no longer in the wallet counts as spent from the
  bonus first, then from the product.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.kit.clock import as_utc
from roamcard.ledger import repository as ledger_repository
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.models import Allowance, LedgerAccount, Refund, TopupOrder
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
    bonus: bool = False  # a promotion's bonus (index = its place in `order.promotions`), not a grant

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
    others = [r for r in repository.list_for_order(session, order.id) if r.id != exclude]
    if any(item.get("kind") == "bonus" for item in order.promotions or []):
        return _with_bonus(session, order, others)
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


def _with_bonus(session: Session, order: TopupOrder, others: list[Refund]) -> Refundable:
    """An order that was given a bonus: everything left of the order and its bonus is taken back in one
    refund; the money is what was charged for the product's part left, less the worth of the bonus
    consumed."""
    nothing = Refundable(0, order.price_currency, False, order.price_amount)
    if any(r.status in HOLDING_MONEY or r.status in HOLDING_VALUE for r in others):
        return nothing
    allowances = {a.account_id: a for a in repository.allowances_of_order(session, order.id)}
    grants = [_grant_value(session, order, i, g, 0, allowances) for i, g in enumerate(order.grants)]
    bonuses = [
        (index, item)
        for index, item in enumerate(order.promotions or [])
        if item.get("kind") == "bonus" and str(item["asset"]) not in CURRENCY_ASSETS
    ]
    values: list[GrantValue] = []
    deduction = 0
    for index, item in bonuses:
        value, consumed = _bonus_pack(session, order, index, item, allowances)
        values.append(value)
        deduction += _worth_of(item, consumed)
    # Bonus balances share the wallet with the order's own credit of the same currency.
    taken: dict[int, int] = {}  # grant index -> what is left of it to take back
    for asset in sorted({str(g["asset"]) for g in order.grants} | _bonus_currencies(order)):
        if asset not in CURRENCY_ASSETS:
            continue
        own = [g for g in grants if g.asset == asset]
        extra = [
            (index, item)
            for index, item in enumerate(order.promotions or [])
            if item.get("kind") == "bonus" and str(item["asset"]) == asset
        ]
        credited = sum(g.granted for g in own)
        given = sum(int(item["amount"]) for _, item in extra)
        wallet = ledger.find_wallet_account(session, order.card_id, asset)
        if wallet is not None:
            session.refresh(wallet)
        left = min(wallet.balance if wallet is not None else 0, credited + given)
        spent = credited + given - left
        for index, item in extra:  # the bonus is spent first
            amount = int(item["amount"])
            consumed = min(amount, spent)
            spent -= consumed
            deduction += _worth_of(item, consumed)
            values.append(
                GrantValue(index, asset, wallet.id if wallet else 0, amount, amount - consumed, bonus=True)
            )
        for grant in own:
            consumed = min(grant.granted, spent)
            spent -= consumed
            taken[grant.index] = grant.granted - consumed
    grants = [
        g if g.index not in taken else GrantValue(g.index, g.asset, g.account_id, g.granted, taken[g.index])
        for g in grants
    ]
    if any(g.is_pack for g in grants):
        money = order.price_amount if all(g.available == g.granted for g in grants) else 0
    else:
        credited = sum(g.granted for g in grants)
        money = order.price_amount * sum(g.available for g in grants) // credited if credited else 0
    if money <= 0:
        return Refundable(0, order.price_currency, False, order.price_amount, grants + values)
    return Refundable(
        max(0, money - deduction), order.price_currency, False, order.price_amount, grants + values
    )


def _bonus_currencies(order: TopupOrder) -> set[str]:
    return {str(i["asset"]) for i in order.promotions or [] if i.get("kind") == "bonus"}


def _worth_of(item: dict[str, Any], consumed: int) -> int:
    """The declared worth of `consumed` units of a bonus, in the order's currency, rounded up."""
    amount = int(item["amount"])
    if consumed <= 0 or amount <= 0:
        return 0
    return -(-int(item.get("value") or amount) * consumed // amount)


def _bonus_pack(
    session: Session, order: TopupOrder, index: int, item: dict[str, Any], allowances: dict[int, Allowance]
) -> tuple[GrantValue, int]:
    """A bonus pack: what is left of it to take back (while it is live) and how much of it was consumed
    (granted, less what is left, less what expiry took)."""
    asset, granted = str(item["asset"]), int(item["amount"])
    account = ledger_repository.get_account_by_code(
        session, f"card:{order.card_id}:allowance:{order.id}:promotion:{index}"
    )
    if account is None:  # never granted: nothing to take back, nothing consumed
        return GrantValue(index, asset, 0, granted, 0, bonus=True), 0
    session.refresh(account)
    allowance = allowances.get(account.id)
    expired = 0
    live = False
    if allowance is not None:
        lapsed = ledger_repository.get_transfer_by_key(session, f"allowance:{allowance.id}:expire")
        expired = lapsed.amount if lapsed is not None else 0
        live = allowance.expired_at is None and as_utc(allowance.expires_at) > clock.now()
    consumed = max(0, granted - account.balance - expired)
    value = GrantValue(
        index,
        asset,
        account.id,
        granted,
        account.balance if live else 0,
        allowance_id=allowance.id if allowance is not None else -1,
        bonus=True,
    )
    return value, consumed


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
    if grant.bonus:
        item["bonus"] = 1
    return item


def reversal_route(item: dict[str, Any]) -> tuple[str, str]:
    """A reversal's operator account purpose and the suffix of its transfer keys: a grant goes back to
    `issued` (`:<index>`), a bonus to promotion expense (`:promotion:<index>`)."""
    if item.get("bonus"):
        return "promotion", f"promotion:{item['index']}"
    return "issued", str(item["index"])


def account_of(session: Session, account_id: int) -> LedgerAccount:
    account = session.get(LedgerAccount, account_id, populate_existing=True)
    assert account is not None
    return account
