"""Delivery reports pushed to us: Twilio status callbacks (signed) and Alibaba Cloud SmsReport (unsigned)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from roamcard.config import get_settings
from roamcard.db import insert_ignoring_conflict
from roamcard.errors import AppError
from roamcard.jobs.outbox import enqueue
from roamcard.kit import clock
from roamcard.models import InboxEvent
from roamcard.notification import repository, service
from roamcard.notification.providers.twilio import status_report

log = structlog.get_logger("roamcard.sms")

# The inbox source of Twilio's status callbacks and the job that applies them (payment.inbox re-drives
# an unhandled one to the same job).
TWILIO_SOURCE = "twilio-sms"
PROCESS_JOB = "notification.process_event"


class SmsCallbackRejected(AppError):
    status_code = 403
    code = "sms_callback_rejected"
    message = "The request signature is not valid."


class SmsReportMalformed(AppError):
    status_code = 400
    code = "sms_report_malformed"
    message = "The delivery report could not be read."


def accept_twilio_status(session: Session, url: str, raw_body: bytes, signature: str | None) -> bool:
    """`url` is the public URL Twilio called (ROAMCARD_PUBLIC_BASE_URL + path + query): Twilio signs the
    URL and the form parameters, so both are checked as received. A verified callback is only stored in
    the inbox (once per SID, status and error code) with a job that applies it; returns False for a repeat."""
    params = dict(parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True))
    secret = get_settings().twilio_auth_token
    token = secret.get_secret_value() if secret is not None else ""
    if not signature or not token or not RequestValidator(token).validate(url, params, signature):
        log.warning("sms.twilio_callback_rejected", sid=params.get("MessageSid"))
        raise SmsCallbackRejected()
    sid, status = params.get("MessageSid") or params.get("SmsSid"), params.get("MessageStatus") or ""
    if not sid or not status:
        raise SmsReportMalformed()
    error_code = params.get("ErrorCode") or ""
    event_id = f"{sid}:{status}" + (f":{error_code}" if error_code else "")
    # What the job needs and nothing more (no phone numbers, no account id); our key travels in the URL.
    body = {
        "MessageSid": sid,
        "MessageStatus": status,
        "ErrorCode": error_code,
        "ref": dict(parse_qsl(url.partition("?")[2])).get("ref"),
    }
    inserted = insert_ignoring_conflict(
        session,
        InboxEvent,
        {
            "source": TWILIO_SOURCE,
            "event_id": event_id[:128],
            "event_type": f"sms.{status}"[:64],
            "body": json.dumps(body),
            "received_at": clock.now(),
        },
    )
    if inserted:
        enqueue(session, PROCESS_JOB, {"source": TWILIO_SOURCE, "event_id": event_id[:128]})
    return inserted


def process_event(session: Session, source: str, event_id: str) -> None:
    """The job behind a stored callback (and its re-drive): apply it once, through the SMS machine's
    conditional transitions, so a repeat or a status older than the message's changes nothing."""
    event = session.scalars(
        select(InboxEvent).where(InboxEvent.source == source, InboxEvent.event_id == event_id)
    ).first()
    if event is None or event.handled_at is not None or event.held_reason is not None:
        return
    if source == TWILIO_SOURCE:
        _apply_twilio_status(session, json.loads(event.body))
    event.handled_at = clock.now()


def _apply_twilio_status(session: Session, body: dict[str, Any]) -> bool:
    sid, status = body["MessageSid"], body["MessageStatus"]
    notification = repository.get_by_provider_reference(session, "twilio", sid)
    if notification is None:
        # The SID is new to us when the send timed out: find the message by our key from the URL.
        reference = body.get("ref")
        found = repository.get_by_key(session, reference) if reference else None
        if found is None or found.provider != "twilio" or found.provider_reference not in (None, sid):
            log.info("sms.twilio_callback_unmatched", sid=sid)
            return False
        notification = found
    return service.apply_report(session, notification, status_report(status, body.get("ErrorCode"), sid))


def accept_aliyun_reports(session: Session, raw_body: bytes) -> int:
    """A batch of SmsReport pushes. Alibaba Cloud does not sign them, so each is only a hint that makes
    the report job ask QuerySendDetails now; nothing is changed on the push's word."""
    try:
        reports = json.loads(raw_body)
    except ValueError:
        raise SmsReportMalformed() from None
    if isinstance(reports, Mapping):
        reports = [reports]
    if not isinstance(reports, list):
        raise SmsReportMalformed()
    hinted = 0
    for report in reports:
        if isinstance(report, Mapping) and isinstance(report.get("biz_id"), str):
            said = f"{report.get('err_code', '')}:{report.get('report_time', '')}"
            hinted += service.hint(session, "aliyun", report["biz_id"], said)
    return hinted
