"""The partner lifecycle (active <-> suspended) and a callback's (pending -> delivered | dead, dead ->
pending when staff replay it), through the state machine (history in state_transitions)."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import Partner, PartnerCallback
from roamcard.topup.states import TopupStatus


class PartnerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # its requests are refused (403); its float stays as it is


class PartnerMode(StrEnum):
    SANDBOX = "sandbox"  # top-ups only to sandbox cards; callbacks may go to local addresses
    LIVE = "live"


TRANSITIONS = {
    PartnerStatus.ACTIVE: {PartnerStatus.SUSPENDED},
    PartnerStatus.SUSPENDED: {PartnerStatus.ACTIVE},
}

partner_machine = StateMachine("partner", Partner, TRANSITIONS, id_attribute="public_id")


class CallbackStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # no 2xx within the retry window


CALLBACK_TRANSITIONS = {
    CallbackStatus.PENDING: {CallbackStatus.DELIVERED, CallbackStatus.DEAD},
    CallbackStatus.DELIVERED: set(),
    CallbackStatus.DEAD: {CallbackStatus.PENDING},  # replayed by staff
}

callback_machine = StateMachine(
    "partner_callback", PartnerCallback, CALLBACK_TRANSITIONS, id_attribute="public_id"
)


class PartnerTopupStatus(StrEnum):
    """What the partner sees of its order's status."""

    PROCESSING = "processing"
    FULFILLED = "fulfilled"
    FAILED = "failed"


def partner_status(order_status: str) -> PartnerTopupStatus:
    if order_status == TopupStatus.FULFILLED.value:
        return PartnerTopupStatus.FULFILLED
    if order_status in (TopupStatus.FAILED.value, TopupStatus.EXPIRED.value):
        return PartnerTopupStatus.FAILED
    return PartnerTopupStatus.PROCESSING
