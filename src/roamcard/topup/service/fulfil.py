"""Credit what an order bought, exactly once, and tell the card holder by SMS."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import CURRENCY_ASSETS, Asset
from roamcard.metrics import TOPUPS_FULFILLED
from roamcard.models import Card, TopupOrder
from roamcard.notification import service as notifications
from roamcard.topup.states import TopupStatus, topup_machine

DEFAULT_PACK_VALIDITY_DAYS = 30


def fulfil(session: Session, order_id: str) -> bool:
    """paid -> fulfilled. The conditional transition lets exactly one caller through; the transfers'
    business keys make even a second pass harmless. Returns whether this call fulfilled the order."""
    if not topup_machine.transition(
        session, order_id, TopupStatus.PAID, TopupStatus.FULFILLED, fulfilled_at=clock.now()
    ):
        return False
    order = session.get(TopupOrder, order_id, populate_existing=True)
    assert order is not None
    card = session.get(Card, order.card_id)
    assert card is not None
    wallet = ledger.wallet_account(session, card.id, card.currency)
    for index, grant in enumerate(order.grants):
        key = f"{order.id}:fulfil:{index}"
        asset = Asset(grant["asset"])
        if asset in CURRENCY_ASSETS:
            ledger.transfer(
                session,
                key=key,
                debit=ledger.operator_account(session, "issued", asset.value),
                credit=wallet
                if asset.value == card.currency
                else ledger.wallet_account(session, card.id, asset.value),
                amount=int(grant["amount"]),
                reason="topup",
                reference=order.id,
            )
        else:
            ledger.grant_allowance(
                session,
                key=key,
                card_id=card.id,
                asset=asset,
                amount=int(grant["amount"]),
                validity_days=order.validity_days or DEFAULT_PACK_VALIDITY_DAYS,
                order_id=order.id,
                product_id=order.product_id,
            )
    session.refresh(wallet)  # the guarded UPDATE changed the balance in the database only
    notifications.queue_sms(
        session,
        card,
        "topup_fulfilled",
        key=f"{order.id}:fulfilled",
        order_id=order.id,
        product=order.product_name_zh if card.language == "zh-CN" else order.product_name_en,
        balance=Money(wallet.balance, card.currency),
    )
    TOPUPS_FULFILLED.labels(order.channel).inc()
    return True
