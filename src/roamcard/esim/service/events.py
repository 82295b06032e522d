"""SM-DP+ notifications (ES2+ HandleDownloadProgressInfo): every event lands in the inbox, the newest moves
the profile, and nothing ever moves a profile backwards.

The inbox is unique on (iccid, notificationPointId, timestamp), so a duplicate delivery is a no-op. The
event's own timestamp orders them: an event older than the last one applied to its profile is stored and
marked `stale`. A status change is a conditional transition (with history); when two events for one
profile race, the loser reads the profile again and decides again.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import structlog
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.errors import AppError, Unauthorized
from roamcard.esim.states import RANK, EsimStatus, esim_machine
from roamcard.kit import clock
from roamcard.lifecycle import as_tx

log = structlog.get_logger("roamcard.esim")

S = EsimStatus


@dataclass(frozen=True)
class NotificationPoint:
    name: str
    on_success: EsimStatus | None  # None: the step changes nothing (an eligibility check)
    failure_is_error: bool  # a failed step puts the profile in `error`


# SGP.22 §5.3.2 points 1-4; 5, 101 and 102 are the vendor notifications for profile state found in
# operators' ES2+ documents. An id not in this table is stored and ignored.
NOTIFICATION_POINTS: dict[int, NotificationPoint] = {
    1: NotificationPoint("eligibility and retry limit check", None, True),
    2: NotificationPoint("confirmation failure", None, True),
    3: NotificationPoint("BPP download", S.DOWNLOADED, True),
    4: NotificationPoint("BPP installation", S.INSTALLED, True),
    5: NotificationPoint("profile deleted", S.DELETED, False),
    101: NotificationPoint("profile enabled", S.ENABLED, False),
    102: NotificationPoint("profile disabled", S.DISABLED, False),
}
SUCCESS = "Executed-Success"

INSERT_EVENT = (
    "INSERT INTO esim_events (iccid, notification_point_id, event_at, point_status, eid, profile_type, "
    "function_call_identifier, body, received_at) VALUES (:iccid, :point, :at, :status, :eid, "
    ":profile_type, :call_id, :body, :received_at) "
    "ON CONFLICT (iccid, notification_point_id, event_at) DO NOTHING RETURNING id"
)
SET_OUTCOME = "UPDATE esim_events SET outcome = :outcome WHERE id = :id"
PROFILE = "SELECT id, status, last_event_at FROM esim_profiles WHERE iccid = :iccid"
TOUCH = (
    "UPDATE esim_profiles SET last_event_at = :at, eid = COALESCE(:eid, eid) WHERE id = :id "
    "AND status = :status AND (last_event_at IS NULL OR last_event_at <= :at)"
)


class SmdpNotificationInvalid(AppError):
    status_code = 400
    code = "smdp_notification_invalid"
    message = "The SM-DP+ notification is not a HandleDownloadProgressInfo request."


class SmdpNotAuthenticated(Unauthorized):
    code = "smdp_not_authenticated"
    message = "The SM-DP+ notification does not carry the shared token."


def authenticate(authorization: str | None) -> None:
    """Bearer <ROAMCARD_SMDP_NOTIFY_TOKEN>, compared in constant time. No token configured: refuse all."""
    token = get_settings().smdp_notify_token
    secret = token.get_secret_value() if token is not None else ""
    if not secret:  # fail closed: an unset token never lets anything in, in production or not
        raise SmdpNotAuthenticated()
    expected = f"Bearer {secret}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
        raise SmdpNotAuthenticated()


@dataclass(frozen=True)
class Notification:
    iccid: str
    point: int
    at: datetime
    status: str
    eid: str | None
    profile_type: str | None
    call_id: str | None


def parse(body: bytes) -> Notification:
    try:
        data: Any = orjson.loads(body)
        header = data.get("header") or {}
        point = data["notificationPointId"]
        status = data["notificationPointStatus"]["status"]
        at = datetime.fromisoformat(data["timestamp"])
        iccid = data["iccid"]
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        raise SmdpNotificationInvalid() from None
    if isinstance(point, str) and point.isdigit():
        point = int(point)
    if (
        not isinstance(point, int)
        or isinstance(point, bool)
        or not isinstance(status, str)
        or not isinstance(iccid, str)
        or not iccid.isdigit()
        or not 18 <= len(iccid) <= 22
        or at.tzinfo is None
    ):
        raise SmdpNotificationInvalid()
    eid = data.get("eid")
    return Notification(
        iccid=iccid,
        point=point,
        at=at,
        status=status[:40],
        eid=eid if isinstance(eid, str) and eid.isalnum() and len(eid) <= 32 else None,
        profile_type=str(data.get("profileType"))[:64] if data.get("profileType") is not None else None,
        call_id=str(header.get("functionCallIdentifier"))[:128] if isinstance(header, dict) else None,
    )


def accept(db: Session, body: bytes, authorization: str | None) -> str:
    """Store the notification and apply it; returns its outcome (tests and logs), or `duplicate`."""
    authenticate(authorization)
    note = parse(body)
    tx = as_tx(db)
    event_id = tx.value(
        INSERT_EVENT,
        iccid=note.iccid,
        point=note.point,
        at=note.at,
        status=note.status,
        eid=note.eid,
        profile_type=note.profile_type,
        call_id=note.call_id,
        body=body.decode("utf-8", "replace"),
        received_at=clock.now(),
    )
    if event_id is None:
        return "duplicate"
    outcome = apply(db, note)
    tx.run(SET_OUTCOME, outcome=outcome, id=event_id)
    log.info("esim.notification", point=note.point, status=note.status, outcome=outcome)
    return outcome


def _target(note: Notification) -> EsimStatus | str | None:
    point = NOTIFICATION_POINTS.get(note.point)
    if point is None:
        return "ignored"
    if note.status == SUCCESS:
        return point.on_success
    return S.ERROR if point.failure_is_error else "ignored"


def apply(db: Session, note: Notification) -> str:
    target = _target(note)
    if isinstance(target, str) and not isinstance(target, EsimStatus):
        return target
    tx = as_tx(db)
    for _ in range(5):
        row = tx.one(PROFILE, iccid=note.iccid)
        if row is None:
            return "unknown_profile"
        profile_id, status, last = row
        last_at = tx.dt(last)
        current = EsimStatus(status)
        if last_at is not None and note.at < last_at:
            return "stale"
        if current in (S.AVAILABLE, S.RETIRED):
            return "not_held"  # not a card's profile (yet, or any more): nothing to move
        if (
            target is None
            or target == current
            or (target != S.ERROR and RANK[target] < RANK[current])
            or not esim_machine.allowed(current, target)
        ):
            if tx.run(TOUCH, at=note.at, eid=note.eid, id=profile_id, status=status) == 1:
                return "applied" if target is None or target == current else "behind"
            continue
        values: dict[str, Any] = {"last_event_at": note.at}
        if target in (S.INSTALLED, S.ENABLED, S.DISABLED) and current in (S.ALLOCATED, S.DOWNLOADED, S.ERROR):
            values["installed_at"] = note.at
        if esim_machine.transition(
            db, profile_id, current, target, reason=f"smdp point {note.point} {note.status}"[:200], **values
        ):
            if note.eid:
                tx.run("UPDATE esim_profiles SET eid = :eid WHERE id = :id", eid=note.eid, id=profile_id)
            return "applied"
    return "contended"
