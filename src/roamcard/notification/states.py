"""The life of one SMS: queued → sending → sent → delivered | failed | expired, plus unknown.

`unknown` is a send whose outcome we did not learn (a timeout, a 5xx, an SMPP session lost before its
submit_sm_resp). It is settled by asking the provider; only a message known not to have been accepted goes
back to `queued` (retried, or failed over to the next provider of its route), so nobody gets it twice.
"""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Notification


class SmsStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


S = SmsStatus
TRANSITIONS: dict[SmsStatus, set[SmsStatus]] = {
    S.QUEUED: {S.SENDING, S.FAILED},
    # queued again: the provider certainly did not take it (retry, or the next provider of the route)
    S.SENDING: {S.SENT, S.FAILED, S.UNKNOWN, S.QUEUED},
    S.UNKNOWN: {S.SENT, S.DELIVERED, S.FAILED, S.QUEUED, S.EXPIRED},
    S.SENT: {S.DELIVERED, S.FAILED, S.EXPIRED},
    # A late receipt still tells the truth.
    S.EXPIRED: {S.DELIVERED, S.FAILED},
    # `roamcard sms resend`
    S.FAILED: {S.QUEUED},
    S.DELIVERED: set(),
}
FINAL = frozenset({S.DELIVERED, S.FAILED, S.EXPIRED})

sms_machine = StateMachine("sms", Notification, TRANSITIONS)
