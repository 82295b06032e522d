"""Each card's last visited network, as the charging API reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx
from roamcard.lifecycle import as_tx
from roamcard.network import plmn, repository


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

    One statement (an insert that becomes a conditional update): the row only moves forward in time, so a
    late or repeated report never replaces a newer sighting. It locks only the card's `card_networks` row,
    never `cards`, so it adds nothing to the lock order. The country and operator come from the shipped
    MCC-MNC table (`plmn.lookup`); an unknown network is still recorded with its codes. True when this call
    changed the row."""
    network = plmn.lookup(mcc, mnc)
    return (
        as_tx(db).run(
            repository.RECORD_SEEN,
            card_id=card_id,
            mcc=network.mcc,
            mnc=network.mnc,
            country=network.country,
            operator=network.operator,
            at=at,
        )
        == 1
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
