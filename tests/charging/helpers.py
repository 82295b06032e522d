"""Arranging charging tests: a card with an eSIM profile, its packs and balance, a network element."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import update

from roamcard.card.states import CardStatus, card_machine
from roamcard.charging.service import network_elements
from roamcard.db import Database
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import EsimProfile, LedgerAccount
from tests.factories import make_card, make_catalog, make_esim_profiles

MIB = 1024 * 1024
GIB = 1024 * MIB
DATA, VOICE, SMS = 10, 20, 30  # the demo catalogue's rating groups
US = {"mcc": "310", "mnc": "260"}
FR = {"mcc": "208", "mnc": "01"}
JP = {"mcc": "440", "mnc": "10"}
BASE = "/nchf-convergedcharging/v3/chargingdata"


@dataclass(frozen=True)
class Subscriber:
    card_id: int
    imsi: str
    iccid: str
    msisdn: str | None


def element_key(database: Database, name: str = "pgw-test-1") -> str:
    with database.tx() as tx:
        return network_elements.create(tx, name).key


def subscriber(database: Database, *, catalog: bool = True) -> Subscriber:
    with database.transaction() as session:
        if catalog:
            make_catalog(session)
        card = make_card(session)
        iccid = make_esim_profiles(session, 1)[0]
        session.execute(update(EsimProfile).where(EsimProfile.iccid == iccid).values(card_id=card.id))
        profile = session.query(EsimProfile).filter_by(iccid=iccid).one()
        return Subscriber(card.id, profile.imsi, iccid, profile.msisdn)


def credit_balance(database: Database, card_id: int, amount: int, key: str) -> None:
    with database.tx() as tx:
        ledger.transfer(
            tx,
            key=key,
            debit=ledger.operator(tx, "issued", "USD"),
            credit=ledger.wallet(tx, card_id, "USD"),
            amount=amount,
            reason="topup",
        )


def give_pack(
    database: Database,
    card_id: int,
    asset: Asset,
    amount: int,
    *,
    product_id: str | None,
    days: int,
    key: str,
) -> int:
    with database.tx() as tx:
        return ledger.grant_pack(
            tx,
            key=key,
            card_id=card_id,
            asset=asset,
            amount=amount,
            validity_days=days,
            order_id=None,
            product_id=product_id,
        )


def suspend(database: Database, card_id: int) -> None:
    with database.transaction() as session:
        assert card_machine.transition(
            session, card_id, CardStatus.ACTIVE, CardStatus.SUSPENDED, reason="test"
        )


def charging_request(
    seq: int,
    *,
    imsi: str | None = None,
    identifier: str | None = None,
    units: list[dict[str, Any]] | None = None,
    plmn: dict[str, str] | None = None,
    called: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "invocationSequenceNumber": seq,
        "invocationTimeStamp": "2026-12-02T10:00:00Z",
        "multipleUnitUsage": units or [],
        "nfConsumerIdentification": {"nodeFunctionality": "SMF"},  # accepted and ignored
    }
    if identifier or imsi:
        body["subscriberIdentifier"] = identifier or f"imsi-{imsi}"
    if plmn is not None:
        body["pDUSessionChargingInformation"] = {
            "userLocationinfo": {"eutraLocation": {"tai": {"plmnId": plmn}}}
        }
    if called is not None:
        body["calledPartyAddress"] = called
    return body


def ask(rating_group: int, field: str, amount: int | None, used: int | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {"ratingGroup": rating_group}
    if amount is not None:
        usage["requestedUnit"] = {field: amount}
    if used is not None:
        usage["usedUnitContainer"] = [{field: used}]
    return usage


def verify_ok(database: Database) -> None:
    with database.reading() as session:
        report = ledger.verify(session)
    assert report.ok, report


def available(database: Database, card_id: int) -> dict[str, int]:
    """balance - pending of the card's wallet and packs, by asset (the sum over packs)."""
    with database.reading() as session:
        rows = session.execute(LedgerAccount.__table__.select().where(LedgerAccount.card_id == card_id)).all()
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.asset] = totals.get(row.asset, 0) + row.balance - row.pending
    return totals
