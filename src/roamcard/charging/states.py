"""A charging session's lifecycle: open from create until release (its history in state_transitions)."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import ChargingSession


class ChargingSessionStatus(StrEnum):
    OPEN = "open"
    RELEASED = "released"


TRANSITIONS = {
    ChargingSessionStatus.OPEN: {ChargingSessionStatus.RELEASED},
    ChargingSessionStatus.RELEASED: set(),
}

charging_session_machine = StateMachine("charging_session", ChargingSession, TRANSITIONS, id_attribute="ref")


class ResultCode(StrEnum):
    """Nchf ConvergedCharging result codes Roamcard answers with (TS 32.291)."""

    SUCCESS = "SUCCESS"
    QUOTA_LIMIT_REACHED = "QUOTA_LIMIT_REACHED"
    END_USER_SERVICE_DENIED = "END_USER_SERVICE_DENIED"
    USER_UNKNOWN = "USER_UNKNOWN"
    RATING_FAILED = "RATING_FAILED"


class GrantSource(StrEnum):
    PACK = "pack"
    BALANCE = "balance"
    EMERGENCY = "emergency"
