"""Reissue a card's eSIM (a supervisor's back-office action): a fresh profile from stock replaces one stuck
in `error` or deleted on the phone. The card keeps its card number (what the traveller signs in with);
`esim.iccid` then names the new profile, and the old one is `retired` and never used again.

Exactly once, on both engines and under parallel attempts:

* the old profile leaves `error`/`deleted` for `retired` by a conditional transition: of two staff
  pressing the button at once only one wins, the other is refused and changes nothing;
* the new profile names the one it replaces (`replaces_profile_id`, unique): a profile is replaced at
  most once, whatever the code above does;
* at most `MAX_REISSUES` per card, counted from those names; a card holds one current profile, so the
  count cannot race (every reissue must first win the retirement of that one profile).

The buyer gets the install link again by SMS, and the new profile's confirmation code in an SMS of its
own when it needs one (`esim.confirmation_sms`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import Conflict
from roamcard.esim.service import confirmation_sms, inventory
from roamcard.esim.states import EsimStatus, esim_machine
from roamcard.kit import clock
from roamcard.lifecycle import as_tx
from roamcard.models import Card
from roamcard.notification import service as notifications

MAX_REISSUES = 3
REISSUABLE = (EsimStatus.ERROR, EsimStatus.DELETED)

CURRENT = (
    "SELECT id, iccid, status FROM esim_profiles WHERE card_id = :card_id "
    "AND status NOT IN ('retired', 'available') ORDER BY id DESC LIMIT 1"
)
COUNT_REISSUES = (
    "SELECT count(*) FROM esim_profiles WHERE card_id = :card_id AND replaces_profile_id IS NOT NULL"
)
NAME_REPLACED = (
    "UPDATE esim_profiles SET replaces_profile_id = :old_id WHERE id = :new_id AND card_id = :card_id"
)


class EsimNotReissuable(Conflict):
    code = "esim_not_reissuable"
    message = "Only a profile in error or deleted on the phone can be reissued."


class EsimReissueLimit(Conflict):
    code = "esim_reissue_limit"
    message = "This card's eSIM has been reissued {limit} times already: the most allowed."


class EsimStockEmpty(Conflict):
    code = "esim_out_of_stock"
    message = "No travel cards are available right now. Try again later."


@dataclass(frozen=True)
class Reissued:
    old_iccid: str
    new_iccid: str
    reissues: int  # this card's reissues, this one included


def reissue(session: Session, card: Card, *, reason: str) -> Reissued:
    """Replace the card's current profile (in error or deleted) by a fresh one from stock. The caller
    audits it and runs it in a savepoint (`backoffice.service`), so a refusal changes nothing."""
    tx = as_tx(session)
    current = tx.one(CURRENT, card_id=card.id)
    if current is None or current[2] not in REISSUABLE:
        raise EsimNotReissuable()
    old_id, old_iccid, old_status = current
    done = int(tx.value(COUNT_REISSUES, card_id=card.id))
    if done >= MAX_REISSUES:
        raise EsimReissueLimit(limit=MAX_REISSUES)
    if not esim_machine.transition(
        tx, old_id, old_status, EsimStatus.RETIRED, reason=f"reissued: {reason}"[:200], retired_at=clock.now()
    ):
        raise EsimNotReissuable()  # another supervisor reissued it a moment ago
    allocated = inventory.allocate(tx, card.id)
    if allocated is None:
        raise EsimStockEmpty()  # the request rolls back: the old profile stays as it was
    tx.run(NAME_REPLACED, old_id=old_id, new_id=allocated.profile_id, card_id=card.id)
    url = f"{get_settings().public_base_url.rstrip('/')}/esim"
    notifications.queue_sms(
        tx,
        card,
        "esim_reissued",
        key=f"esim:{allocated.profile_id}:reissued",
        card_number=card.card_number,
        url=url,
    )
    confirmation_sms.queue(tx, card, allocated.profile_id)
    return Reissued(old_iccid, allocated.iccid, done + 1)
