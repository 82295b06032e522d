"""The confirmation code reaches the buyer in an SMS of its own, never in the QR or the activation code.

It is stored encrypted under the `esim-confirmation` purpose key (`esim.confirmation`); it is opened only
here, handed to the SMS service as the template's secret parameter (so the stored body is masked and the
clear text is kept encrypted for the send only: docs/security.md), and never logged."""

from __future__ import annotations

from sqlalchemy.orm import Session

from roamcard.esim import confirmation
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.notification import service as notifications
from roamcard.notification.service import Recipient

PROFILE = (
    "SELECT iccid, confirmation_code_required, confirmation_code FROM esim_profiles "
    "WHERE id = :id AND card_id = :card_id"
)


def key(profile_id: int) -> str:
    return f"esim:{profile_id}:confirmation"


def queue(db: Session | Tx, card: Recipient, profile_id: int) -> bool:
    """Queue the profile's confirmation code to the card's phone, once per profile; False when the
    profile needs none (or it was queued already)."""
    tx = as_tx(db)
    row = tx.one(PROFILE, id=profile_id, card_id=card.id)
    if row is None:
        return False
    iccid, required, sealed = row
    if not required or not sealed:
        return False
    code = confirmation.unseal(iccid, sealed)
    return notifications.queue_sms(
        tx, card, "esim_confirmation_code", key=key(profile_id), card_tail=iccid[-4:], code=code
    )
