from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roamcard.jobs.outbox import INSERT_FOR_EACH, INSERT_FOR_EACH_AT
from roamcard.lifecycle import HISTORY
from roamcard.models import Notification


def list_for_card(session: Session, card_id: int, limit: int = 50) -> Sequence[Notification]:
    return session.scalars(
        select(Notification)
        .where(Notification.card_id == card_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    ).all()


def get_by_key(session: Session, key: str) -> Notification | None:
    return session.scalars(select(Notification).where(Notification.key == key)).one_or_none()


def get_by_provider_reference(session: Session, provider: str, reference: str) -> Notification | None:
    return session.scalars(
        select(Notification).where(
            Notification.provider == provider, Notification.provider_reference == reference
        )
    ).first()


def oldest_unknown_to(session: Session, provider: str, phone: str) -> Notification | None:
    """An SMPP receipt for an id we never learned (the session died before submit_sm_resp)."""
    return session.scalars(
        select(Notification)
        .where(
            Notification.provider == provider, Notification.phone == phone, Notification.status == "unknown"
        )
        .order_by(Notification.attempt_started_at, Notification.id)
    ).first()


def mark_secret_shown(session: Session, notification_id: int, now: datetime) -> bool:
    result = session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.secret_shown_at.is_(None))
        .values(secret_shown_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def delete_secret(session: Session, notification_id: int) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id)
        .values(secret=None)
        .execution_options(synchronize_session=False)
    )


def list_stuck_sending(
    session: Session, started_before: datetime, limit: int = 100
) -> Sequence[Notification]:
    return session.scalars(
        select(Notification)
        .where(Notification.status == "sending", Notification.attempt_started_at < started_before)
        .limit(limit)
    ).all()


def list_waiting_since(
    session: Session, started_before: datetime, limit: int = 100
) -> Sequence[Notification]:
    """Sent or unknown messages older than the shorter of the two give-up times: candidates to expire."""
    return session.scalars(
        select(Notification)
        .where(
            Notification.status.in_(("sent", "unknown")),
            Notification.attempt_started_at < started_before,
        )
        .limit(limit)
    ).all()


# -- the lean path: queueing and sending ----------------------------------------------------------
# History rows and jobs written by the history table's and the outbox's own statements (lifecycle's
# HISTORY, jobs.outbox.INSERT_FOR_EACH with `job_params`), so that PostgreSQL can fold them into the
# statement that creates or moves the message (data-modifying CTEs).
_HISTORY = HISTORY.insert_into()

KEY_EXISTS = 'SELECT 1 FROM notifications WHERE "key" = :key'
# What a check and its report need of a message (`service.Tracked`, in this order).
TRACKED = (
    'SELECT id, "key", status, provider, phone, provider_reference, attempt_started_at, template, language, '
    "params, body, secret, route, route_index, attempts, secret_until_shown, secret_shown_at, sent_at, "
    'created_at FROM notifications WHERE "key" = :key'
)

INSERT_QUEUED = (
    'INSERT INTO notifications ("key", card_id, phone, language, template, body, params, secret, '
    "secret_until_shown, parts, status, route, route_index, attempts, created_at, updated_at) "
    "VALUES (:key, :card_id, :phone, :language, :template, :body, :params, :secret, :secret_until_shown, "
    ":parts, 'queued', :route, 0, 0, :now, :now) ON CONFLICT DO NOTHING RETURNING id"
)
# The message, its creation in the history and its `notification.send` job, in one statement.
INSERT_QUEUED_PG = (
    f"WITH queued AS ({INSERT_QUEUED}), "
    f"history AS ({_HISTORY}SELECT 'sms', CAST(id AS VARCHAR), NULL, 'queued', NULL, :now FROM queued) "
    f"{INSERT_FOR_EACH.format(rows='queued')}"
)

# The provider of this attempt: element `route_index` of the comma-separated route (the last one when the
# index ran past it). SQLite has no split function; a route, made of provider names, reads as JSON.
_LAST_INDEX = "length(route) - length(replace(route, ',', ''))"
_PROVIDER_SQLITE = (
    "json_extract('[\"' || replace(route, ',', '\",\"') || '\"]', "
    f"'$[' || min(route_index, {_LAST_INDEX}) || ']')"
)
_PROVIDER_PG = f"split_part(route, ',', LEAST(route_index, {_LAST_INDEX}) + 1)"
_CLAIMED = "id, provider, route, route_index, attempts, phone, body, template, language, params, secret"


def _claim(provider: str) -> str:
    return (
        f"UPDATE notifications SET status = 'sending', updated_at = :now, provider = {provider}, "
        "provider_reference = NULL, attempts = attempts + 1, attempt_started_at = :now, error_code = NULL, "
        "error_detail = NULL WHERE \"key\" = :key AND status = 'queued' AND route <> '' "
        f"RETURNING {_CLAIMED}"
    )


# queued → sending, returning what the send needs.
CLAIM = _claim(_PROVIDER_SQLITE)
CLAIM_PG = (
    f"WITH claimed AS ({_claim(_PROVIDER_PG)}), "
    f"history AS ({_HISTORY}SELECT 'sms', CAST(id AS VARCHAR), 'queued', 'sending', provider, :now "
    f"FROM claimed) SELECT {_CLAIMED} FROM claimed"
)
UNROUTABLE = (
    "SELECT id FROM notifications WHERE \"key\" = :key AND status = 'queued' AND COALESCE(route, '') = ''"
)

# → sent. The secret goes once sent, unless the buyer's page has not shown it yet or the demo page shows it
# (decided on the row as it is now: the page may have shown it while the provider was being called).
MARK_SENT = (
    "UPDATE notifications SET status = 'sent', updated_at = :now, sent_at = :now, provider = :provider, "
    "provider_reference = COALESCE(:reference, provider_reference), "
    "secret = CASE WHEN :keep_secret OR (secret_until_shown AND secret_shown_at IS NULL) THEN secret END "
    "WHERE id = :id AND status = :from_status"
)
_SENT_HISTORY = (
    f"{_HISTORY}SELECT 'sms', CAST(id AS VARCHAR), :from_status, 'sent', :provider, :now FROM sent"
)
MARK_SENT_PG = f"WITH sent AS ({MARK_SENT} RETURNING id) {_SENT_HISTORY}"
# … and the message's first `notification.check`, in the same statement.
MARK_SENT_PG_CHECK = (
    f"WITH sent AS ({MARK_SENT} RETURNING id), history AS ({_SENT_HISTORY}) "
    f"{INSERT_FOR_EACH_AT.format(rows='sent')}"
)
