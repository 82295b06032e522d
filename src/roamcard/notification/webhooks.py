"""Delivery reports pushed to us: Twilio status callbacks (signed) and Alibaba Cloud SmsReport (unsigned)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qsl

import structlog
from sqlalchemy.orm import Session
from twilio.request_validator import RequestValidator

from roamcard.config import get_settings
from roamcard.errors import AppError
from roamcard.notification import repository, service
from roamcard.notification.providers.twilio import status_report

log = structlog.get_logger("roamcard.sms")


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
    URL and the form parameters, so both are checked as received."""
    params = dict(parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True))
    secret = get_settings().twilio_auth_token
    token = secret.get_secret_value() if secret is not None else ""
    if not signature or not token or not RequestValidator(token).validate(url, params, signature):
        log.warning("sms.twilio_callback_rejected", sid=params.get("MessageSid"))
        raise SmsCallbackRejected()
    sid, status = params.get("MessageSid") or params.get("SmsSid"), params.get("MessageStatus") or ""
    if not sid:
        raise SmsReportMalformed()
    notification = repository.get_by_provider_reference(session, "twilio", sid)
    if notification is None:
        # Our key travels in the callback URL; the SID is new to us when the send timed out.
        reference = dict(parse_qsl(url.partition("?")[2])).get("ref")
        found = repository.get_by_key(session, reference) if reference else None
        if found is None or found.provider != "twilio" or found.provider_reference not in (None, sid):
            return False
        notification = found
    return service.apply_report(session, notification, status_report(status, params.get("ErrorCode"), sid))


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
