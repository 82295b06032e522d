"""Charging sessions: create, update and release (Nchf_ConvergedCharging), each one lean transaction.

Every request of a session is claimed by its `invocationSequenceNumber` first (`charging_requests`,
unique per session): a repeat finds the first answer and returns it, changing nothing. Then the card is
locked (PostgreSQL; SQLite's writers queue anyway), used units are settled and new grants reserved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roamcard.charging import repository
from roamcard.charging.schemas import ChargingDataRequest, MultipleUnitUsage
from roamcard.charging.service import grants
from roamcard.charging.service.grants import UNIT_FIELD, Context
from roamcard.charging.service.rating import rating_group_kind
from roamcard.charging.states import ChargingSessionStatus, ResultCode, charging_session_machine
from roamcard.errors import NotFound
from roamcard.kit import clock, ids
from roamcard.kit.sql import Tx
from roamcard.network import plmn as plmn_table
from roamcard.network import service as network


class UserUnknown(NotFound):
    code = "USER_UNKNOWN"
    message = "No card has this subscriber identifier."


class ChargingDataNotFound(NotFound):
    code = "CHARGING_DATA_NOT_FOUND"
    message = "There is no open charging session with this reference."


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any] | None
    ref: str


_LOOKUPS = {
    "imsi": repository.CARD_BY_IMSI,
    "msisdn": repository.CARD_BY_MSISDN,
    "iccid": repository.CARD_BY_ICCID,
}


def find_subscriber(tx: Tx, identifier: str | None) -> tuple[int, str, str]:
    """(card id, status, currency) of `imsi-…`, `msisdn-…` (the card's own number) or `iccid-…`."""
    kind, _, value = (identifier or "").partition("-")
    sql = _LOOKUPS.get(kind.lower())
    if sql is None or not value.isdigit():
        raise UserUnknown()
    row = tx.one(sql, value=f"+{value}" if kind.lower() == "msisdn" else value)
    if row is None:
        raise UserUnknown()
    return int(row[0]), str(row[1]), str(row[2])


def _lock_card(tx: Tx, card_id: int) -> str:
    sql = repository.CARD_STATUS if tx.is_sqlite else repository.LOCK_CARD
    return str(tx.value(sql, card_id=card_id))


def _where(request: ChargingDataRequest) -> tuple[str | None, str | None, str | None]:
    plmn = request.plmn()
    if plmn is None:
        return None, None, None
    return plmn_table.lookup(plmn.mcc, plmn.mnc).country, plmn.mcc, plmn.mnc


def _used(usage: MultipleUnitUsage, kind: str) -> int:
    field = UNIT_FIELD[kind]
    return sum(int(getattr(container, field) or 0) for container in usage.usedUnitContainer)


def _requested(usage: MultipleUnitUsage, kind: str) -> int | None:
    if usage.requestedUnit is None:
        return None
    return getattr(usage.requestedUnit, UNIT_FIELD[kind]) or 0


def _units(tx: Tx, context: Context, request: ChargingDataRequest, *, grant: bool) -> list[dict[str, Any]]:
    answers: list[dict[str, Any]] = []
    for usage in request.multipleUnitUsage:
        kind = rating_group_kind(tx, usage.ratingGroup)
        if kind is None:
            answers.append({"ratingGroup": usage.ratingGroup, "resultCode": ResultCode.RATING_FAILED.value})
            continue
        grants.settle(tx, context.session_id, usage.ratingGroup, _used(usage, kind))
        if grant and usage.requestedUnit is not None:
            answers.append(grants.grant(tx, context, usage.ratingGroup, kind, _requested(usage, kind)))
    return answers


def _body(request: ChargingDataRequest, answers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "invocationSequenceNumber": request.invocationSequenceNumber,
        "invocationTimeStamp": clock.now().isoformat().replace("+00:00", "Z"),
        "multipleUnitInformation": answers,
    }


def create(tx: Tx, element_id: int, request: ChargingDataRequest) -> Answer:
    """Open a session for the subscriber and grant what it asks for. Unknown subscriber: UserUnknown (404)
    and nothing is written."""
    card_id, _status, currency = find_subscriber(tx, request.subscriberIdentifier)
    status = _lock_card(tx, card_id)
    country, mcc, mnc = _where(request)
    now = clock.now()
    if mcc is not None and mnc is not None:
        network.seen(tx, card_id, mcc, mnc, now)  # the card's last network, for the dashboard and alerts
    ref = ids.new_id("chg")
    session_id = int(
        tx.value(
            repository.INSERT_SESSION,
            ref=ref,
            card_id=card_id,
            element_id=element_id,
            country=country,
            mcc=mcc,
            mnc=mnc,
            called=request.calledPartyAddress,
            now=now,
        )
    )
    charging_session_machine.record_creation(tx, ref, ChargingSessionStatus.OPEN, at=now)
    request_id = tx.value(
        repository.CLAIM_REQUEST,
        session_id=session_id,
        sequence_number=request.invocationSequenceNumber,
        operation="create",
        now=now,
    )
    context = Context(
        session_id,
        ref,
        card_id,
        status,
        currency,
        country,
        request.calledPartyAddress,
        request.invocationSequenceNumber,
    )
    body = _body(request, _units(tx, context, request, grant=True))
    tx.run(repository.ANSWER_REQUEST, id=request_id, status_code=201, response=tx.json(body))
    return Answer(201, body, ref)


def update(tx: Tx, element_id: int, ref: str, request: ChargingDataRequest) -> Answer:
    return _follow_up(tx, element_id, ref, request, release=False)


def release(tx: Tx, element_id: int, ref: str, request: ChargingDataRequest) -> Answer:
    return _follow_up(tx, element_id, ref, request, release=True)


def _follow_up(tx: Tx, element_id: int, ref: str, request: ChargingDataRequest, *, release: bool) -> Answer:
    found = tx.one(repository.SESSION_BY_REF, ref=ref, element_id=element_id)
    if found is None:
        raise ChargingDataNotFound()
    session_id, card_id, session_status, country, called, currency = found
    now = clock.now()
    request_id = tx.value(
        repository.CLAIM_REQUEST,
        session_id=session_id,
        sequence_number=request.invocationSequenceNumber,
        operation="release" if release else "update",
        now=now,
    )
    if request_id is None:  # a repeat: the first answer, nothing changed
        status_code, response = tx.one(
            repository.REQUEST_ANSWER, session_id=session_id, sequence_number=request.invocationSequenceNumber
        ) or (None, None)
        return Answer(int(status_code or 200), tx.loads(response) if response is not None else None, ref)
    if session_status != ChargingSessionStatus.OPEN:
        raise ChargingDataNotFound()
    status = _lock_card(tx, int(card_id))
    moved_to, mcc, mnc = _where(request)
    if mcc is not None:
        country = moved_to
        tx.run(repository.MOVE_SESSION, id=session_id, country=country, mcc=mcc, mnc=mnc, now=now)
        if mnc is not None:
            network.seen(tx, int(card_id), mcc, mnc, now)
    context = Context(
        int(session_id),
        ref,
        int(card_id),
        status,
        str(currency),
        country,
        called,
        request.invocationSequenceNumber,
    )
    answers = _units(tx, context, request, grant=not release)
    if release:
        grants.settle_all(tx, int(session_id))
        charging_session_machine.transition(
            tx, ref, ChargingSessionStatus.OPEN, ChargingSessionStatus.RELEASED, reason="release"
        )
        tx.run(repository.ANSWER_REQUEST, id=request_id, status_code=204, response=None)
        return Answer(204, None, ref)
    body = _body(request, answers)
    tx.run(repository.ANSWER_REQUEST, id=request_id, status_code=200, response=tx.json(body))
    return Answer(200, body, ref)
