"""SMS to a card's bound phone: queued in the caller's transaction, sent by a job, tracked to a receipt.

A secret in a message (a code, a password) is stored only encrypted under the "message-secret" purpose
key, with the message's key as context, and deleted once the message is sent (docs/security.md). `body`
keeps the text with the secret masked, which is all a log line, the back office or a table dump shows.

Sending follows `states.py`: the job claims queued → sending, calls the provider with no transaction open,
and records sent, failed (certain refusal), queued again on the next provider (certainly not taken) or
unknown (no answer). Unknown and sent messages are asked about by `notification.check` until they are
final; receipts (Twilio callbacks, SMPP deliver_sm, Alibaba Cloud reports) go through `apply_report`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.orm import Session

from roamcard import i18n, keys
from roamcard.config import get_settings
from roamcard.db import Database, insert_ignoring_conflict
from roamcard.errors import TooManyRequests
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.models import Notification
from roamcard.notification import limits, repository
from roamcard.notification.providers import get_provider
from roamcard.notification.providers.base import (
    Lookup,
    OutgoingSms,
    Report,
    SmsNotAccepted,
    SmsRejected,
    SmsUncertain,
)
from roamcard.notification.routing import route_for
from roamcard.notification.sms import segments
from roamcard.notification.states import FINAL, SmsStatus, sms_machine
from roamcard.notification.templates import CODE_TEMPLATES, SECRET_PARAMS, TEMPLATES

log = structlog.get_logger("roamcard.sms")

S = SmsStatus

SECRET_PURPOSE = "message-secret"  # noqa: S105 (a key purpose name, not a secret)
MASK = "******"
# Rounds of trying the whole route before a message nobody takes fails.
ROUTE_ROUNDS = 3
# A claimed send that never recorded its outcome (the worker died): settled as unknown after this long.
SENDING_STUCK_AFTER = timedelta(minutes=10)
MAX_CHECK_INTERVAL_SECONDS = 3600


class SmsRateLimited(TooManyRequests):
    code = "sms_rate_limited"
    message = "Too many codes were sent to this number. Try again in {minutes} minutes."


class Recipient(Protocol):
    """What a message needs of its card: an ORM `Card` or a lean read of one."""

    @property
    def id(self) -> int: ...
    @property
    def phone(self) -> str: ...
    @property
    def language(self) -> str: ...


class SmsRetryLater(Exception):
    """Raised inside a job so the worker tries again with backoff (no provider took the message yet)."""


# -- text -------------------------------------------------------------------------------------------
def _brand(language: str) -> str:
    settings = get_settings()
    if language == "zh-CN":
        return f"【{settings.brand_name_zh or '远游卡'}】"
    return f"[{settings.brand_name_en or 'Roamcard'}]"


def _format_params(language: str, params: dict[str, Any]) -> dict[str, str]:
    return {
        key: value.format(language) if isinstance(value, Money) else str(value)
        for key, value in params.items()
    }


def render(template: str, language: str, **params: Any) -> str:
    """The template in the language, with the operator's brand where the catalogue has ours."""
    text = i18n.gettext(TEMPLATES[template], language, **_format_params(language, params))
    for ours in ("【远游卡】", "[Roamcard]"):
        if text.startswith(ours):
            return _brand(language) + text[len(ours) :]
    return text


def _secret_context(key: str) -> bytes:
    return f"notification:{key}".encode()


def _secret_of(notification: Notification) -> str | None:
    if notification.secret is None:
        return None
    return keys.decrypt(SECRET_PURPOSE, notification.secret, context=_secret_context(notification.key))


def full_text(notification: Notification) -> str | None:
    """The text as the phone gets it; None once a secret it carried has been deleted."""
    name = SECRET_PARAMS.get(notification.template)
    if name is None:
        return notification.body
    secret = _secret_of(notification)
    if secret is None:
        return None
    return render(
        notification.template, notification.language, **(notification.params or {}), **{name: secret}
    )


def _demo_shows_secrets() -> bool:
    """Demo mode outside production: the demo messages page shows what "arrived", secrets included, so a
    newcomer can try the flows. Never in production, whatever ROAMCARD_DEMO_MODE says."""
    settings = get_settings()
    return bool(settings.demo_mode) and settings.environment != "production"


def readable_text(notification: Notification) -> str:
    """What the demo messages page shows: the whole text in demo mode (never in production), else the
    masked body."""
    if _demo_shows_secrets():
        return full_text(notification) or notification.body
    return notification.body


def _keep_secret_after_send(notification: Notification) -> bool:
    if notification.secret_until_shown and notification.secret_shown_at is None:
        return True
    return _demo_shows_secrets()


# -- queue ------------------------------------------------------------------------------------------
def queue_sms(
    session: Session,
    card: Recipient,
    template: str,
    *,
    key: str,
    to_phone: str | None = None,
    secret_until_shown: bool = False,
    **params: Any,
) -> bool:
    """One message per `key`, however often the caller runs. False when it was already queued.
    `to_phone` sends to another number than the bound one (a code proving a new number).
    `secret_until_shown` keeps the secret (encrypted) after sending until `reveal_secret_once`.
    Verification codes are limited per number: SmsRateLimited (429), and nothing is queued."""
    phone = to_phone or card.phone
    if repository.get_by_key(session, key) is not None:
        return False
    if template in CODE_TEMPLATES:
        retry_after = limits.consume_code(phone)
        if retry_after is not None:
            raise SmsRateLimited(retry_after)
    language = card.language
    formatted = _format_params(language, params)
    secret_name = SECRET_PARAMS.get(template)
    secret = formatted.pop(secret_name) if secret_name is not None else None
    masked = {secret_name: MASK} if secret_name is not None else {}
    body = render(template, language, **formatted, **masked)
    text = render(template, language, **formatted, **{secret_name: secret}) if secret_name else body
    now = clock.now()
    route = route_for(phone)
    inserted = insert_ignoring_conflict(
        session,
        Notification,
        {
            "key": key,
            "card_id": card.id,
            "phone": phone,
            "language": language,
            "template": template,
            "body": body,
            "params": formatted,
            "secret": (
                keys.encrypt(SECRET_PURPOSE, secret, context=_secret_context(key))
                if secret is not None
                else None
            ),
            "secret_until_shown": secret_until_shown,
            "parts": segments(text),
            "status": S.QUEUED.value,
            "route": ",".join(route),
            "route_index": 0,
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    if inserted:
        notification = repository.get_by_key(session, key)
        assert notification is not None
        sms_machine.record_creation(session, notification.id, S.QUEUED)
        enqueue(session, "notification.send", {"key": key})
    return inserted


def reveal_secret_once(session: Session, key: str) -> str | None:
    """For the page that shows a new card's password once (the buyer's order page): the secret the first
    time, None after. The secret is deleted as soon as the message is also sent."""
    notification = repository.get_by_key(session, key)
    if notification is None or notification.secret_shown_at is not None:
        return None
    secret = _secret_of(notification)
    if secret is None or not repository.mark_secret_shown(session, notification.id, clock.now()):
        return None
    sent = notification.status not in (S.QUEUED.value, S.SENDING.value, S.UNKNOWN.value)
    if sent and not _demo_shows_secrets():
        repository.delete_secret(session, notification.id)
    return secret


# -- send -------------------------------------------------------------------------------------------
def _route(notification: Notification) -> list[str]:
    return [name for name in (notification.route or "").split(",") if name]


def send(database: Database, key: str) -> None:
    """Claim, send with no transaction open, record. At most one send per claim: a message goes back to
    `queued` only when a provider certainly did not take it."""
    with database.transaction() as session:
        notification = repository.get_by_key(session, key)
        if notification is None or notification.status != S.QUEUED.value:
            return
        route = _route(notification)
        if not route:
            sms_machine.transition(
                session,
                notification.id,
                S.QUEUED,
                S.FAILED,
                reason="no_route",
                error_code="no_route",
                error_detail="ROAMCARD_SMS_ROUTES has no route to this number",
                finished_at=clock.now(),
            )
            return
        index = min(notification.route_index, len(route) - 1)
        provider_name = route[index]
        now = clock.now()
        if not sms_machine.transition(
            session,
            notification.id,
            S.QUEUED,
            S.SENDING,
            reason=provider_name,
            provider=provider_name,
            provider_reference=None,
            attempts=notification.attempts + 1,
            attempt_started_at=now,
            error_code=None,
            error_detail=None,
        ):
            return
        notification_id, attempts = notification.id, notification.attempts + 1
        text = full_text(notification)
        outgoing = OutgoingSms(
            reference=key,
            phone=notification.phone,
            text=text if text is not None else notification.body,
            masked_text=notification.body,
            template=notification.template,
            language=notification.language,
            params={
                **(notification.params or {}),
                **(
                    {SECRET_PARAMS[notification.template]: _secret_of(notification) or MASK}
                    if notification.template in SECRET_PARAMS
                    else {}
                ),
            },
            carries_secret=notification.template in SECRET_PARAMS,
        )
    provider = get_provider(provider_name)
    try:
        reference = provider.send(outgoing)
    except SmsRejected as exc:
        with database.transaction() as session:
            sms_machine.transition(
                session,
                notification_id,
                S.SENDING,
                S.FAILED,
                reason=f"{provider_name}:{exc.code}",
                error_code=exc.code,
                error_detail=exc.detail,
                finished_at=clock.now(),
            )
        log.warning("sms.rejected", key=key, provider=provider_name, code=exc.code)
        return
    except SmsNotAccepted as exc:
        log.warning("sms.not_accepted", key=key, provider=provider_name, code=exc.code)
        with database.transaction() as session:
            _requeue(
                session, notification_id, S.SENDING, route, index, attempts, f"{provider_name}:{exc.code}"
            )
        return
    except SmsUncertain as exc:
        log.warning("sms.unknown", key=key, provider=provider_name, code=exc.code)
        with database.transaction() as session:
            if sms_machine.transition(
                session,
                notification_id,
                S.SENDING,
                S.UNKNOWN,
                reason=f"{provider_name}:{exc.code}",
                error_code=exc.code,
                error_detail=exc.detail,
            ):
                schedule_check(session, key, 0)
        return
    with database.transaction() as session:
        mark_sent(session, notification_id, S.SENDING, provider_name, reference)
        schedule_check(session, key, 0)


def _requeue(
    session: Session,
    notification_id: int,
    source: SmsStatus,
    route: list[str],
    index: int,
    attempts: int,
    reason: str,
) -> None:
    """The provider certainly did not take it: the next provider of the route, or another round later."""
    if index + 1 < len(route):
        if sms_machine.transition(
            session,
            notification_id,
            source,
            S.QUEUED,
            reason=f"failover:{reason}",
            route_index=index + 1,
        ):
            notification = session.get(Notification, notification_id)
            assert notification is not None
            enqueue(session, "notification.send", {"key": notification.key})
        return
    if attempts >= ROUTE_ROUNDS * len(route):
        sms_machine.transition(
            session,
            notification_id,
            source,
            S.FAILED,
            reason=f"not_accepted:{reason}",
            error_code=reason.partition(":")[2][:64] or "not_accepted",
            finished_at=clock.now(),
        )
        return
    if sms_machine.transition(
        session, notification_id, source, S.QUEUED, reason=f"retry:{reason}", route_index=0
    ):
        notification = session.get(Notification, notification_id)
        assert notification is not None
        delay = timedelta(seconds=min(MAX_CHECK_INTERVAL_SECONDS, 30 * 2 ** (attempts // len(route))))
        enqueue(session, "notification.send", {"key": notification.key}, run_at=clock.now() + delay)


def mark_sent(
    session: Session, notification_id: int, source: SmsStatus, provider_name: str, reference: str | None
) -> bool:
    notification = session.get(Notification, notification_id)
    assert notification is not None
    values: dict[str, Any] = {"sent_at": clock.now(), "provider": provider_name}
    if reference:
        values["provider_reference"] = reference[:64]
    if not _keep_secret_after_send(notification):
        values["secret"] = None
    return sms_machine.transition(session, notification_id, source, S.SENT, reason=provider_name, **values)


def schedule_check(session: Session, key: str, round_number: int, *, soon: bool = False) -> None:
    interval = get_settings().sms_check_interval_seconds
    delay = 0 if soon else min(MAX_CHECK_INTERVAL_SECONDS, interval * 2 ** min(round_number, 10))
    enqueue(
        session,
        "notification.check",
        {"key": key, "round": round_number},
        run_at=clock.now() + timedelta(seconds=delay),
    )


# -- reports and checks -----------------------------------------------------------------------------
def apply_report(session: Session, notification: Notification, report: Report) -> bool:
    """Move a message by what its provider says. Returns whether anything changed."""
    status = S(notification.status)
    nid = notification.id
    now = clock.now()
    reason = f"{notification.provider}:{report.state}" + (
        f":{report.error_code}" if report.error_code else ""
    )
    if report.state == "pending":
        return False
    if report.state == "accepted":
        if status in (S.UNKNOWN, S.SENDING):
            return mark_sent(
                session, notification.id, status, notification.provider or "", report.provider_reference
            )
        return False
    if report.state == "not_accepted":
        if status is S.UNKNOWN:
            _requeue(
                session,
                notification.id,
                status,
                _route(notification),
                notification.route_index,
                notification.attempts,
                f"{notification.provider}:not_accepted",
            )
            return True
        return False
    target = S.DELIVERED if report.state == "delivered" else S.FAILED
    values: dict[str, Any] = {"finished_at": now}
    if report.error_code:
        values["error_code"] = report.error_code[:64]
    if report.provider_reference and not notification.provider_reference:
        values["provider_reference"] = report.provider_reference[:64]
    if status in (S.UNKNOWN, S.SENDING) and not _keep_secret_after_send(notification):
        values["secret"] = None
    if status in (S.UNKNOWN, S.SENDING):
        values.setdefault("sent_at", now)
    return (
        sms_machine.transition_from_any(session, nid, [status], target, reason=reason, **values) is not None
    )


def check(database: Database, key: str, round_number: int, *, hint: bool = False) -> None:
    """Ask the provider about an unknown or sent message; schedule the next question until it is final.
    A question asked on a push's hint asks once: the scheduled chain already follows the message."""
    with database.reading() as session:
        notification = repository.get_by_key(session, key)
        if notification is None or S(notification.status) in FINAL or notification.status == S.QUEUED.value:
            return
        if notification.provider is None or notification.attempt_started_at is None:
            return
        provider_name = notification.provider
        lookup = Lookup(
            reference=key,
            phone=notification.phone,
            provider_reference=notification.provider_reference,
            attempt_started_at=notification.attempt_started_at,
            text=full_text(notification) if notification.status == S.UNKNOWN.value else None,
            unknown=notification.status == S.UNKNOWN.value,
        )
    report = get_provider(provider_name).query(lookup)
    with database.transaction() as session:
        notification = repository.get_by_key(session, key)
        assert notification is not None
        apply_report(session, notification, report)
        session.refresh(notification)
        if S(notification.status) in FINAL or notification.status == S.QUEUED.value:
            return
        if _give_up(session, notification, clock.now()) or hint:
            return
        schedule_check(session, key, round_number + 1)


def _give_up(session: Session, notification: Notification, now: datetime) -> bool:
    """Nothing waits forever: no receipt, or still unknown, past its time is expired (never resent)."""
    settings = get_settings()
    started = notification.sent_at or notification.attempt_started_at or notification.created_at
    if notification.status == S.SENT.value:
        limit = timedelta(seconds=settings.sms_receipt_timeout_seconds)
    elif notification.status == S.UNKNOWN.value:
        limit = timedelta(seconds=settings.sms_unknown_give_up_seconds)
    else:
        return False
    if now - started < limit:
        return False
    values: dict[str, Any] = {"finished_at": now}
    if not _keep_secret_after_send(notification) and not notification.secret_until_shown:
        values["secret"] = None
    return sms_machine.transition(
        session,
        notification.id,
        notification.status,
        S.EXPIRED,
        reason="no_receipt" if notification.status == S.SENT.value else "never_settled",
        **values,
    )


def sweep_stuck(session: Session) -> int:
    """Sends claimed and never recorded (the worker died mid-call) are unknown, then asked about; sent or
    unknown messages past their time are expired."""
    now = clock.now()
    moved = 0
    for notification in repository.list_stuck_sending(session, now - SENDING_STUCK_AFTER):
        if sms_machine.transition(session, notification.id, S.SENDING, S.UNKNOWN, reason="worker_lost"):
            schedule_check(session, notification.key, 0, soon=True)
            moved += 1
    for notification in repository.list_waiting_since(
        session,
        now
        - timedelta(
            seconds=min(
                get_settings().sms_receipt_timeout_seconds, get_settings().sms_unknown_give_up_seconds
            )
        ),
    ):
        if _give_up(session, notification, now):
            moved += 1
    return moved


def hint(session: Session, provider_name: str, provider_reference: str, discriminator: str = "") -> bool:
    """An unsigned push (Alibaba Cloud SmsReport) only makes us ask sooner; `discriminator` (what the
    push says) lets a repeated push not queue another question."""
    notification = repository.get_by_provider_reference(session, provider_name, provider_reference)
    if notification is None or S(notification.status) in FINAL:
        return False
    enqueue(
        session,
        "notification.check",
        {"key": notification.key, "round": 0, "hint": True},
        dedupe_key=f"sms-hint:{notification.id}:{notification.status}:{discriminator}"[:160],
    )
    return True


def record_receipt(provider_name: str, reference: str, report: Report, phone: str) -> bool:
    """A receipt from a provider's own session (SMPP deliver_sm), in a short transaction of its own. A
    receipt for an id we never learned (the session died before submit_sm_resp) settles the oldest unknown
    message to that number at that provider."""
    from roamcard.db import get_database

    with get_database().transaction() as session:
        notification = repository.get_by_provider_reference(session, provider_name, reference)
        if notification is None:
            notification = repository.oldest_unknown_to(session, provider_name, phone)
            if notification is None:
                log.info("sms.receipt_unmatched", provider=provider_name, reference=reference)
                return False
        return apply_report(session, notification, Report(report.state, reference, report.error_code))


# -- operators --------------------------------------------------------------------------------------
class SmsNotResendable(Exception):
    pass


def resend(session: Session, notification_id: int) -> Notification:
    """`roamcard sms resend ID`: a failed message goes through its route again from the first provider."""
    notification = session.get(Notification, notification_id)
    if notification is None:
        raise SmsNotResendable("no such message")
    if notification.status != S.FAILED.value:
        raise SmsNotResendable(f"only a failed message can be resent (this one is {notification.status})")
    if notification.template in SECRET_PARAMS and notification.secret is None:
        raise SmsNotResendable("its secret is gone; request a new code or password instead")
    route = route_for(notification.phone)
    if not sms_machine.transition(
        session,
        notification.id,
        S.FAILED,
        S.QUEUED,
        reason="resend",
        route=",".join(route),
        route_index=0,
        attempts=0,
        finished_at=None,
    ):
        raise SmsNotResendable("the message changed meanwhile")
    enqueue(session, "notification.send", {"key": notification.key})
    session.refresh(notification)
    return notification
