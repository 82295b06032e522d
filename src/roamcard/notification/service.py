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

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

import structlog
from sqlalchemy.orm import Session

from roamcard import i18n, keys
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import TooManyRequests
from roamcard.jobs.outbox import enqueue, job_params, wake_workers
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.kit.state_machine import IllegalTransition
from roamcard.lifecycle import as_tx
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


class CardRecipient(NamedTuple):
    """A `Recipient` read on the lean path (id, phone, language), or a card's contact at another number."""

    id: int
    phone: str
    language: str


class Tracked(NamedTuple):
    """A message as a check reads it (lean, `repository.TRACKED`): the attributes of `Notification` that
    `apply_report`, `full_text` and the give-up rule read."""

    id: int
    key: str
    status: str
    provider: str | None
    phone: str
    provider_reference: str | None
    attempt_started_at: datetime | None
    template: str
    language: str
    params: dict[str, Any] | None
    body: str
    secret: str | None
    route: str | None
    route_index: int
    attempts: int
    secret_until_shown: bool
    secret_shown_at: datetime | None
    sent_at: datetime | None
    created_at: datetime


Message = Notification | Tracked


def _tracked(tx: Tx, key: str) -> Tracked | None:
    row = tx.one(repository.TRACKED, key=key)
    if row is None:
        return None
    values = list(row)
    values[6] = tx.dt(values[6])
    values[9] = tx.loads(values[9]) if values[9] is not None else None
    values[15] = bool(values[15])
    for index in (16, 17, 18):
        values[index] = tx.dt(values[index])
    return Tracked(*values)


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


def _open_secret(key: str, ciphertext: str | None) -> str | None:
    if ciphertext is None:
        return None
    return keys.decrypt(SECRET_PURPOSE, ciphertext, context=_secret_context(key))


def _secret_of(notification: Message) -> str | None:
    return _open_secret(notification.key, notification.secret)


def _full_text(
    template: str, language: str, params: dict[str, Any], body: str, secret: str | None
) -> str | None:
    name = SECRET_PARAMS.get(template)
    if name is None:
        return body
    if secret is None:
        return None
    return render(template, language, **params, **{name: secret})


def full_text(notification: Message) -> str | None:
    """The text as the phone gets it; None once a secret it carried has been deleted."""
    return _full_text(
        notification.template,
        notification.language,
        notification.params or {},
        notification.body,
        _secret_of(notification),
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


def _keep_secret_after_send(notification: Message) -> bool:
    if notification.secret_until_shown and notification.secret_shown_at is None:
        return True
    return _demo_shows_secrets()


# -- queue ------------------------------------------------------------------------------------------
SEND_JOB = "notification.send"
CHECK_JOB = "notification.check"


def queue_sms(
    db: Session | Tx,
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
    tx = as_tx(db)
    phone = to_phone or card.phone
    if template in CODE_TEMPLATES:
        # A key already queued is no new code: it must not count against the number's limit.
        if tx.one(repository.KEY_EXISTS, key=key) is not None:
            return False
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
    row = {
        "key": key,
        "card_id": card.id,
        "phone": phone,
        "language": language,
        "template": template,
        "body": body,
        "params": tx.json(formatted),
        "secret": (
            keys.encrypt(SECRET_PURPOSE, secret, context=_secret_context(key)) if secret is not None else None
        ),
        "secret_until_shown": secret_until_shown,
        "parts": segments(text),
        "route": ",".join(route_for(phone)),
        "now": now,
    }
    if tx.is_sqlite:
        notification_id = tx.value(repository.INSERT_QUEUED, **row)
        if notification_id is None:
            return False
        sms_machine.record_creation(tx, notification_id, S.QUEUED, at=now)
        enqueue(tx, SEND_JOB, {"key": key})
        return True
    queued = tx.run(repository.INSERT_QUEUED_PG, **row, **job_params(tx, SEND_JOB, {"key": key}))
    if queued != 1:
        return False
    tx.after_commit(wake_workers)  # as enqueue does for a job due now
    return True


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
def _route(notification: Message) -> list[str]:
    return [name for name in (notification.route or "").split(",") if name]


@contextmanager
def _one_statement(database: Database) -> Iterator[Tx]:
    """A step of a send that PostgreSQL does in one statement, committed on its own (no BEGIN and COMMIT
    round trips); SQLite runs its few statements in one transaction."""
    with database.tx() if database.is_sqlite else database.autocommit() as tx:
        yield tx


def _record(
    tx: Tx, notification_id: int, source: SmsStatus, target: SmsStatus, reason: str, at: datetime
) -> None:
    """The history row of a move made by this module's own UPDATE (SQLite; PostgreSQL folds it in)."""
    tx.run(
        sms_machine.history.insert_sql(),
        entity_type=sms_machine.entity_type,
        entity_id=str(notification_id),
        from_status=source.value,
        to_status=target.value,
        reason=reason,
        at=at,
    )


def _claim(tx: Tx, key: str) -> tuple[Any, ...] | None:
    """queued → sending with its history, returning what the send needs; None when there is nothing to
    send (not queued any more, or no route, which fails the message)."""
    now = clock.now()
    if tx.is_sqlite:
        claimed = tx.one(repository.CLAIM, key=key, now=now)
        if claimed is not None:
            _record(tx, claimed[0], S.QUEUED, S.SENDING, claimed[1], now)
    else:
        claimed = tx.one(repository.CLAIM_PG, key=key, now=now)
    if claimed is None:
        # Each statement is conditional, so on PostgreSQL they need no transaction around them.
        unroutable = tx.value(repository.UNROUTABLE, key=key)
        if unroutable is not None:
            sms_machine.transition(
                tx,
                unroutable,
                S.QUEUED,
                S.FAILED,
                reason="no_route",
                error_code="no_route",
                error_detail="ROAMCARD_SMS_ROUTES has no route to this number",
                finished_at=now,
            )
    return claimed


def send(database: Database, key: str) -> None:
    """Claim, send with no transaction open, record. At most one send per claim: a message goes back to
    `queued` only when a provider certainly did not take it."""
    with _one_statement(database) as tx:
        claimed = _claim(tx, key)
        if claimed is None:
            return
        notification_id, provider_name, route_text, route_index, attempts = claimed[:5]
        phone, body, template, language, stored_params, ciphertext = claimed[5:]
        params = tx.loads(stored_params) or {}
    route = [name for name in route_text.split(",") if name]
    index = min(route_index, len(route) - 1)
    secret_name = SECRET_PARAMS.get(template)
    secret = _open_secret(key, ciphertext)
    text = _full_text(template, language, params, body, secret)
    outgoing = OutgoingSms(
        reference=key,
        phone=phone,
        text=text if text is not None else body,
        masked_text=body,
        template=template,
        language=language,
        params={**params, **({secret_name: secret or MASK} if secret_name is not None else {})},
        carries_secret=secret_name is not None,
    )
    provider = get_provider(provider_name)
    try:
        reference = provider.send(outgoing)
    except SmsRejected as exc:
        with database.tx() as tx:
            sms_machine.transition(
                tx,
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
        with database.tx() as tx:
            _requeue(
                tx, notification_id, key, S.SENDING, route, index, attempts, f"{provider_name}:{exc.code}"
            )
        return
    except SmsUncertain as exc:
        log.warning("sms.unknown", key=key, provider=provider_name, code=exc.code)
        with database.tx() as tx:
            if sms_machine.transition(
                tx,
                notification_id,
                S.SENDING,
                S.UNKNOWN,
                reason=f"{provider_name}:{exc.code}",
                error_code=exc.code,
                error_detail=exc.detail,
            ):
                schedule_check(tx, key, 0)
        return
    with _one_statement(database) as tx:
        mark_sent(tx, notification_id, S.SENDING, provider_name, reference, check_key=key)


def _requeue(
    db: Session | Tx,
    notification_id: int,
    key: str,
    source: SmsStatus,
    route: list[str],
    index: int,
    attempts: int,
    reason: str,
) -> None:
    """The provider certainly did not take it: the next provider of the route, or another round later."""
    if index + 1 < len(route):
        if sms_machine.transition(
            db,
            notification_id,
            source,
            S.QUEUED,
            reason=f"failover:{reason}",
            route_index=index + 1,
        ):
            enqueue(db, SEND_JOB, {"key": key})
        return
    if attempts >= ROUTE_ROUNDS * len(route):
        sms_machine.transition(
            db,
            notification_id,
            source,
            S.FAILED,
            reason=f"not_accepted:{reason}",
            error_code=reason.partition(":")[2][:64] or "not_accepted",
            finished_at=clock.now(),
        )
        return
    if sms_machine.transition(db, notification_id, source, S.QUEUED, reason=f"retry:{reason}", route_index=0):
        delay = timedelta(seconds=min(MAX_CHECK_INTERVAL_SECONDS, 30 * 2 ** (attempts // len(route))))
        enqueue(db, SEND_JOB, {"key": key}, run_at=clock.now() + delay)


def mark_sent(
    db: Session | Tx,
    notification_id: int,
    source: SmsStatus,
    provider_name: str,
    reference: str | None,
    *,
    check_key: str | None = None,
) -> bool:
    """→ sent, deleting the secret unless it must still be shown. `check_key`: the message's key, to
    schedule its first check with it (on PostgreSQL in the same statement)."""
    if not sms_machine.allowed(source, S.SENT):
        raise IllegalTransition(f"sms: {source} -> {S.SENT}")
    tx = as_tx(db)
    now = clock.now()
    values: dict[str, Any] = {
        "id": notification_id,
        "from_status": source.value,
        "provider": provider_name,
        "reference": reference[:64] if reference else None,
        "keep_secret": _demo_shows_secrets(),
        "now": now,
    }
    if tx.is_sqlite:
        if tx.run(repository.MARK_SENT, **values) != 1:
            return False
        _record(tx, notification_id, source, S.SENT, provider_name, now)
        if check_key is not None:
            schedule_check(tx, check_key, 0)
        return True
    if check_key is None:
        return tx.run(repository.MARK_SENT_PG, **values) == 1
    payload, run_at = _check_job(check_key, 0)
    return (
        tx.run(
            repository.MARK_SENT_PG_CHECK,
            **values,
            **job_params(tx, CHECK_JOB, payload),
            job_run_at=run_at,
        )
        == 1
    )


def _check_job(key: str, round_number: int, *, soon: bool = False) -> tuple[dict[str, Any], datetime]:
    """The payload and time of the next `notification.check` of a message."""
    interval = get_settings().sms_check_interval_seconds
    delay = 0 if soon else min(MAX_CHECK_INTERVAL_SECONDS, interval * 2 ** min(round_number, 10))
    return {"key": key, "round": round_number}, clock.now() + timedelta(seconds=delay)


def schedule_check(db: Session | Tx, key: str, round_number: int, *, soon: bool = False) -> None:
    payload, run_at = _check_job(key, round_number, soon=soon)
    enqueue(db, CHECK_JOB, payload, run_at=run_at)


# -- reports and checks -----------------------------------------------------------------------------
def apply_report(db: Session | Tx, notification: Message, report: Report) -> bool:
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
                db, notification.id, status, notification.provider or "", report.provider_reference
            )
        return False
    if report.state == "not_accepted":
        if status is S.UNKNOWN:
            _requeue(
                db,
                notification.id,
                notification.key,
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
    return sms_machine.transition_from_any(db, nid, [status], target, reason=reason, **values) is not None


def check(database: Database, key: str, round_number: int, *, hint: bool = False) -> None:
    """Ask the provider about an unknown or sent message; schedule the next question until it is final.
    A question asked on a push's hint asks once: the scheduled chain already follows the message.
    Lean: one autocommitted read, the provider's answer with no transaction open, then one short write
    transaction that reads the message again, applies the answer and schedules the next check."""
    with database.autocommit() as tx:
        found = _tracked(tx, key)
    if found is None or S(found.status) in FINAL or found.status == S.QUEUED.value:
        return
    if found.provider is None or found.attempt_started_at is None:
        return
    lookup = Lookup(
        reference=key,
        phone=found.phone,
        provider_reference=found.provider_reference,
        attempt_started_at=found.attempt_started_at,
        text=full_text(found) if found.status == S.UNKNOWN.value else None,
        unknown=found.status == S.UNKNOWN.value,
    )
    report = get_provider(found.provider).query(lookup)
    with database.tx() as tx:
        notification = _tracked(tx, key)
        assert notification is not None
        if apply_report(tx, notification, report):
            notification = _tracked(tx, key)  # as the report left it
            assert notification is not None
        if S(notification.status) in FINAL or notification.status == S.QUEUED.value:
            return
        if _give_up(tx, notification, clock.now()) or hint:
            return
        schedule_check(tx, key, round_number + 1)


def _give_up(session: Session | Tx, notification: Message, now: datetime) -> bool:
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
        CHECK_JOB,
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
    enqueue(session, SEND_JOB, {"key": notification.key})
    session.refresh(notification)
    return notification
