"""Each card's last visited network, as the charging API reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.network import emergency, plmn, repository
from roamcard.notification import service as notification_service


@dataclass(frozen=True)
class LastNetwork:
    mcc: str
    mnc: str
    country: str | None
    operator: str | None
    seen_at: datetime


def seen(db: Session | Tx, card_id: int, mcc: str | int, mnc: str | int, at: datetime) -> bool:
    """Record that card `card_id` used network `mcc`-`mnc` at `at` (aware UTC). For the charging API: call it
    for every request that names a PLMN, in the request's transaction.

    The row only moves forward in time, so a late or repeated report never replaces a newer sighting. While
    the card stays in one country this is one conditional UPDATE; a first sighting or another country takes
    a second statement (an insert that becomes a conditional update) and, for a country the card is seen in
    for the first time, queues the welcome SMS (`welcome_country`: local emergency number, where the rates
    are), once per card and country however many requests race (the SMS key is unique). It locks only the
    card's `card_networks` row, never `cards`, so it adds nothing to the lock order. Country and operator
    come from the shipped MCC-MNC table (`plmn.lookup`); an unknown network is still recorded with its
    codes. True when this call changed the row."""
    tx = as_tx(db)
    network = plmn.lookup(mcc, mnc)
    params = {
        "card_id": card_id,
        "mcc": network.mcc,
        "mnc": network.mnc,
        "country": network.country,
        "operator": network.operator,
        "at": at,
    }
    within = repository.MOVE_WITHIN_COUNTRY_SQLITE if tx.is_sqlite else repository.MOVE_WITHIN_COUNTRY
    if tx.run(within, **params) == 1:
        return True
    if tx.run(repository.RECORD_SEEN, **params) != 1:
        return False  # an older (or equal) report: nothing changes
    if network.country is not None:
        _welcome(tx, card_id, network.country)
    return True


def _welcome(tx: Tx, card_id: int, country: str) -> None:
    row = tx.one(repository.CARD_RECIPIENT, card_id=card_id)
    if row is None or not row[3]:
        return  # no card, or its holder switched the welcome SMS off
    recipient = notification_service.CardRecipient(row[0], row[1], row[2])
    notification_service.queue_sms(
        tx,
        recipient,
        "welcome_country",
        key=f"{card_id}:welcome:{country}",
        country=plmn.country_name(country, recipient.language),
        number=emergency.local_number(country),
        url=f"{get_settings().public_base_url}/recharge",
    )


def last_network(db: Session | Tx, card_id: int) -> LastNetwork | None:
    tx = as_tx(db)
    row = tx.one(repository.LAST_SEEN, card_id=card_id)
    if row is None:
        return None
    mcc, mnc, country, operator, seen_at = row
    at = tx.dt(seen_at)
    assert at is not None  # NOT NULL
    return LastNetwork(mcc, mnc, country, operator, at)
