"""A supervisor cancels a new card's order that was never delivered (its eSIM never installed).

The card order goes `fulfilled → cancelled`, the card is `closed` (its sessions end), its profile is
retired (its activation code was shown to the buyer: it is never sold again), and a refund of the unused
starter product is filed as `requested`: `finance` approves or rejects it in the refunds queue like every
refund (approval reverses the card's value first, then the gateway pays back). Audited by the back office."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.auth import repository as auth_repository
from roamcard.card.states import CardStatus, card_machine
from roamcard.card_order.states import CardOrderStatus, card_order_machine
from roamcard.errors import Conflict, NotFound
from roamcard.esim.states import EsimStatus, esim_machine
from roamcard.kit import clock
from roamcard.lifecycle import as_tx
from roamcard.models import Card
from roamcard.refund import service as refunds

# A profile the buyer never installed: still allocated, downloaded but not installed, or failed.
UNDELIVERED = (EsimStatus.ALLOCATED, EsimStatus.DOWNLOADED, EsimStatus.ERROR)

ORDER_OF_CARD = (
    "SELECT co.id, co.status, co.topup_order_id, p.id, p.status, p.installed_at FROM card_orders co "
    "JOIN esim_profiles p ON p.card_id = co.card_id WHERE co.card_id = :card_id "
    "AND p.status NOT IN ('retired', 'available') ORDER BY p.id DESC LIMIT 1"
)
LINK_REFUND = "UPDATE card_orders SET refund_id = :refund_id WHERE id = :id"


class CardOrderNotFound(NotFound):
    code = "card_order_not_found"
    message = "This card was not bought online."


class CardOrderDelivered(Conflict):
    code = "card_order_delivered"
    message = "This card's eSIM was installed: the order can no longer be cancelled."


class CardOrderNotCancellable(Conflict):
    code = "card_order_not_cancellable"
    message = "Only a delivered-but-not-installed card order can be cancelled."


@dataclass(frozen=True)
class Cancelled:
    order_id: str
    refund_id: str


def cancel(session: Session, card: Card, *, reason: str, staff_ref: str) -> Cancelled:
    """The caller audits it and runs it in a savepoint (`backoffice.service`): a refusal changes nothing."""
    tx = as_tx(session)
    row = tx.one(ORDER_OF_CARD, card_id=card.id)
    if row is None:
        raise CardOrderNotFound()
    order_id, status, topup_order_id, profile_id, profile_status, installed_at = row
    if installed_at is not None or profile_status not in UNDELIVERED:
        raise CardOrderDelivered()
    if status != CardOrderStatus.FULFILLED or not card_order_machine.transition(
        tx,
        order_id,
        CardOrderStatus.FULFILLED,
        CardOrderStatus.CANCELLED,
        reason=f"cancelled by {staff_ref}"[:200],
        cancelled_at=clock.now(),
    ):
        raise CardOrderNotCancellable()
    refund = refunds.request_for_cancelled_card(session, topup_order_id, reason=reason)
    tx = as_tx(session)
    tx.run(LINK_REFUND, refund_id=refund.id, id=order_id)
    card_machine.transition_from_any(
        tx,
        card.id,
        (CardStatus.ACTIVE, CardStatus.SUSPENDED),
        CardStatus.CLOSED,
        reason="card order cancelled",
    )
    auth_repository.revoke_sessions(session, card.id, clock.now())
    esim_machine.transition(
        tx,
        profile_id,
        profile_status,
        EsimStatus.RETIRED,
        reason="card order cancelled",
        retired_at=clock.now(),
    )
    session.expire(card)
    return Cancelled(order_id, refund.id)
