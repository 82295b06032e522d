"""Closing a card: after its grace period (the validity sweeper) or by its holder (portal, API).

Locks follow docs/CONVENTIONS.md "Lock order": the holder's refunds are filed first (each locks its
order), then the card moves to `closed` (its row), then the ledger: the refunds' value goes back
(`refund.service.approve`, the refund policy: bought balance to the original payment, bonuses never), what
is left in the wallets goes to breakage (`operator:card_breakage:<currency>`, key
`card:<id>:closed:<currency>`), the packs expire (`operator:expired:<unit>`, as at a pack's expiry). The
card's eSIM profile is retired and its own number quarantined for ROAMCARD_MSISDN_QUARANTINE_DAYS
(esim/service/inventory.py refuses it until then).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.auth import repository as auth_repository
from roamcard.card import validity
from roamcard.card.states import CardStatus, card_machine
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import Conflict
from roamcard.esim.states import HELD_BY_CARD, EsimStatus, esim_machine
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import AccountKind
from roamcard.lifecycle import as_tx
from roamcard.models import Card, EsimProfile, LedgerAccount, TopupOrder
from roamcard.notification import service as notifications
from roamcard.refund import policy
from roamcard.refund import service as refunds
from roamcard.topup.states import TopupStatus

BREAKAGE = "card_breakage"
CLOSED_BY_HOLDER = "closed by card holder"


class CardNotClosable(Conflict):
    code = "card_not_closable"
    message = "This card cannot be closed now."


@dataclass
class Closed:
    refunds: list[tuple[str, Money]] = field(default_factory=list)
    breakage: list[Money] = field(default_factory=list)
    packs_expired: int = 0


def refundable_now(session: Session, card: Card) -> list[tuple[TopupOrder, Money]]:
    """What closing would refund: each fulfilled recharge's refundable part under the refund policy."""
    orders = session.scalars(
        select(TopupOrder)
        .where(TopupOrder.card_id == card.id, TopupOrder.status == TopupStatus.FULFILLED.value)
        .order_by(TopupOrder.created_at)
    ).all()
    found = []
    for order in orders:
        value = policy.refundable(session, order)
        if value.amount > 0:
            found.append((order, Money(value.amount, value.currency)))
    return found


def close_by_holder(session: Session, card: Card, *, client_ip: str | None = None) -> Closed:
    """The holder closes an active card: refunds under the policy, the rest to breakage. Audited."""
    if card.status != CardStatus.ACTIVE.value and card.status != CardStatus.EXPIRED.value:
        raise CardNotClosable()
    source = CardStatus(card.status)
    result = Closed()
    filed = []
    for order, _money in refundable_now(session, card):
        filed.append(refunds.request_refund(session, card, order.id, amount=None, reason=CLOSED_BY_HOLDER))
    if not card_machine.transition(
        as_tx(session), card.id, source, CardStatus.CLOSED, reason=CLOSED_BY_HOLDER
    ):
        raise CardNotClosable()
    for refund in filed:
        approved = refunds.approve(session, refund.id, staff_ref="cardholder", reason=CLOSED_BY_HOLDER)
        result.refunds.append((approved.id, Money(approved.amount, approved.currency)))
    _wind_up(session, card.id, result)
    audit.record(
        session,
        audit.Actor(staff_id=None, email=f"card:{card.card_number}", role="cardholder", client_ip=client_ip),
        "card.closed",
        target_type="card",
        target_id=card.card_number,
        card_id=card.id,
        before={"status": source.value},
        after={
            "status": CardStatus.CLOSED.value,
            "refunds": [
                {"refund": rid, "amount": m.amount, "currency": m.currency} for rid, m in result.refunds
            ],
            "breakage": [{"amount": m.amount, "currency": m.currency} for m in result.breakage],
            "packs_expired": result.packs_expired,
        },
        reason=CLOSED_BY_HOLDER,
    )
    session.expire(card)
    return result


def close_card_by_id(database: Database, card_id: int, *, client_ip: str | None = None) -> Closed:
    """`close_by_holder` in a transaction of its own (the portal and the API, after the password check)."""
    with database.transaction() as session:
        card = session.get(Card, card_id)
        if card is None:
            raise CardNotClosable()
        return close_by_holder(session, card, client_ip=client_ip)


def close_after_grace(session: Session, card_id: int, *, cutoff: datetime) -> bool:
    """expired → closed, only while the card's validity date is still at or before `cutoff` (now minus the
    grace period): a recharge that reactivated or extended it first wins."""
    if not validity.guarded_transition(
        as_tx(session), card_id, CardStatus.EXPIRED, CardStatus.CLOSED, cutoff=cutoff
    ):
        return False
    _wind_up(session, card_id, Closed())
    return True


def _wind_up(session: Session, card_id: int, result: Closed) -> None:
    now = clock.now()
    auth_repository.revoke_sessions(session, card_id, now)
    tx = as_tx(session)
    wallets = session.scalars(
        select(LedgerAccount)
        .where(LedgerAccount.card_id == card_id, LedgerAccount.kind == AccountKind.WALLET.value)
        .order_by(LedgerAccount.id)
    ).all()
    for wallet in wallets:
        ledger.void_holds(tx, wallet.id, reason="card_closed")
        session.refresh(wallet)
        if wallet.balance > 0:
            ledger.transfer(
                session,
                key=f"card:{card_id}:closed:{wallet.asset}",
                debit=wallet,
                credit=ledger.operator_account(session, BREAKAGE, wallet.asset),
                amount=wallet.balance,
                reason="breakage",
            )
            result.breakage.append(Money(wallet.balance, wallet.asset))
    result.packs_expired = ledger.expire_card_allowances(session, card_id)
    quarantine_until = now + timedelta(days=get_settings().msisdn_quarantine_days)
    profiles = session.scalars(
        select(EsimProfile).where(
            EsimProfile.card_id == card_id, EsimProfile.status.in_([s.value for s in HELD_BY_CARD])
        )
    ).all()
    for profile in profiles:
        esim_machine.transition(
            tx,
            profile.id,
            profile.status,
            EsimStatus.RETIRED,
            reason="card closed",
            retired_at=now,
            msisdn_quarantine_until=quarantine_until if profile.msisdn else None,
        )


def sweep(session: Session, *, limit: int = 500) -> int:
    """The validity sweeper's one pass: reminders, then expiry, then closure after the grace period.
    Each step is claimed by a conditional update, so two workers never send or move anything twice."""
    settings = get_settings()
    tx = as_tx(session)
    now = clock.now()
    done = 0
    for days in sorted(set(settings.validity_reminder_days), reverse=True):
        for card_id, phone, language, valid_until in validity.due_reminders(tx, days, now=now, limit=limit):
            if not validity.mark_reminded(tx, card_id, days, valid_until):
                continue
            notifications.queue_sms(
                tx,
                notifications.CardRecipient(card_id, phone, language),
                "validity_reminder",
                key=f"card:{card_id}:validity:{valid_until.isoformat()}:{days}d",
                date=valid_until.date().isoformat(),
                url=f"{settings.public_base_url}/recharge",
            )
            done += 1
    for card_id in validity.lapsed(tx, CardStatus.ACTIVE, cutoff=now, limit=limit):
        if validity.guarded_transition(tx, card_id, CardStatus.ACTIVE, CardStatus.EXPIRED, cutoff=now):
            done += 1
    cutoff = now - timedelta(days=settings.grace_days)
    for card_id in validity.lapsed(tx, CardStatus.EXPIRED, cutoff=cutoff, limit=limit):
        if close_after_grace(session, card_id, cutoff=cutoff):
            done += 1
    return done
