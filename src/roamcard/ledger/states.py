"""A reservation's lifecycle (a two-phase transfer): pending until posted (what was used moved, the rest
released) or voided (nothing moved: released by its session, lapsed, or its pack expired)."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import LedgerReservation


class ReservationStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


TRANSITIONS = {
    ReservationStatus.PENDING: {ReservationStatus.POSTED, ReservationStatus.VOIDED},
    ReservationStatus.POSTED: set(),
    ReservationStatus.VOIDED: set(),
}

reservation_machine = StateMachine("reservation", LedgerReservation, TRANSITIONS)
