"""Twilio Programmable Messaging through the `twilio` SDK.

Send: Messages.create(to, body, messaging_service_sid | from_, status_callback). The status callback is
`{ROAMCARD_PUBLIC_BASE_URL}/webhooks/twilio/sms-status?ref=<our key>`, verified with X-Twilio-Signature.
Twilio's statuses queued/accepted/sending/sent mean taken; delivered; undelivered/failed/canceled carry an
ErrorCode. An HTTP 4xx answer is certain (a rejected number: failed; 429 or an auth problem: not taken,
so the next provider may try); a timeout, a connection dropped mid-request or a 5xx is uncertain and is
settled by looking the message up: by its SID when we have one, else among the messages sent to that
number since the attempt, by its text (Twilio keeps no client reference of ours).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.notification.providers.base import (
    Lookup,
    OutgoingSms,
    Report,
    SmsNotAccepted,
    SmsRejected,
    SmsUncertain,
)

# Twilio error codes that say this number or this text will never go (docs: twilio.com/docs/api/errors).
REJECTED_CODES = frozenset(
    {21211, 21212, 21408, 21602, 21610, 21612, 21614, 21617, 21635, 30004, 30005, 30006}
)
TAKEN = frozenset({"queued", "accepted", "scheduled", "sending", "sent", "receiving", "received"})
FAILED = frozenset({"undelivered", "failed", "canceled"})
# Twilio lists a message a few seconds after accepting it; past this an absent message was not taken.
LISTING_DELAY = timedelta(minutes=2)


def status_report(status: str, error_code: str | int | None = None, sid: str | None = None) -> Report:
    status = status.lower()
    code = str(error_code) if error_code not in (None, "", 0) else None
    if status == "delivered":
        return Report("delivered", sid)
    if status in FAILED:
        return Report("failed", sid, code or status)
    if status in TAKEN:
        return Report("accepted", sid)
    return Report("pending", sid)


class TwilioSmsProvider:
    name = "twilio"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        messaging_service_sid: str | None,
        from_number: str | None,
        public_base_url: str,
        timeout_seconds: float,
        http_client: Any = None,
    ) -> None:
        if not messaging_service_sid and not from_number:
            raise ValueError(
                "Twilio SMS needs ROAMCARD_TWILIO_MESSAGING_SERVICE_SID or ROAMCARD_TWILIO_FROM_NUMBER"
            )
        self.client = Client(
            account_sid, auth_token, http_client=http_client or TwilioHttpClient(timeout=timeout_seconds)
        )
        self.messaging_service_sid = messaging_service_sid
        self.from_number = from_number
        self.public_base_url = public_base_url

    @classmethod
    def from_settings(cls, http_client: Any = None) -> TwilioSmsProvider:
        settings = get_settings()
        if not settings.twilio_account_sid:
            raise ValueError("Twilio SMS needs ROAMCARD_TWILIO_ACCOUNT_SID")
        return cls(
            settings.twilio_account_sid,
            (settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""),
            messaging_service_sid=settings.twilio_messaging_service_sid,
            from_number=settings.twilio_from_number,
            public_base_url=settings.public_base_url,
            timeout_seconds=settings.sms_timeout_seconds,
            http_client=http_client,
        )

    def status_callback(self, reference: str) -> str:
        return f"{self.public_base_url}/webhooks/twilio/sms-status?ref={quote(reference, safe='')}"

    def send(self, message: OutgoingSms) -> str:
        sender: dict[str, str] = (
            {"messaging_service_sid": self.messaging_service_sid}
            if self.messaging_service_sid
            else {"from_": self.from_number or ""}
        )
        try:
            created = self.client.messages.create(
                to=message.phone,
                body=message.text,
                status_callback=self.status_callback(message.reference),
                **sender,
            )
        except TwilioRestException as exc:
            code = str(exc.code or exc.status)
            if exc.status >= 500:
                raise SmsUncertain(f"http_{exc.status}", exc.msg) from None
            if exc.code in REJECTED_CODES:
                raise SmsRejected(code, exc.msg) from None
            raise SmsNotAccepted(code, exc.msg) from None
        except requests.exceptions.ConnectionError as exc:
            # Refused before the request went out, or dropped after: we cannot tell which.
            raise SmsUncertain("connection", type(exc).__name__) from None
        except (requests.exceptions.Timeout, TwilioException) as exc:
            raise SmsUncertain("timeout", type(exc).__name__) from None
        return str(created.sid)

    def query(self, lookup: Lookup) -> Report:
        try:
            if lookup.provider_reference:
                found = self.client.messages(lookup.provider_reference).fetch()
                return status_report(str(found.status), found.error_code, str(found.sid))
            if lookup.text is None or not lookup.unknown:
                return Report("pending")
            since = lookup.attempt_started_at - timedelta(days=1)  # Twilio filters by date
            for candidate in self.client.messages.list(to=lookup.phone, date_sent_after=since, limit=50):
                if candidate.body == lookup.text and (
                    candidate.date_created is None
                    or candidate.date_created >= lookup.attempt_started_at - timedelta(minutes=1)
                ):
                    return status_report(str(candidate.status), candidate.error_code, str(candidate.sid))
        except (TwilioException, requests.exceptions.RequestException):
            return Report("pending")
        if clock.now() - lookup.attempt_started_at >= LISTING_DELAY:
            return Report("not_accepted")
        return Report("pending")
