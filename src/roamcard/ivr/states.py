"""Where a caller is in the menu tree. The step is kept on the call's row (keyed by CallSid)."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    LANGUAGE = "language"
    CARD_NUMBER = "card-number"
    PASSWORD = "password"  # noqa: S105 (a step name)
    MENU = "menu"
    EMERGENCY = "emergency"  # a signed-in card that is not active: only the emergency options
    PIN = "pin"
    PRODUCT = "product"
    ENDED = "ended"


class Outcome(StrEnum):
    GOODBYE = "goodbye"
    GAVE_UP = "gave_up"
    LOCKED = "locked"
    TRANSFERRED = "transferred"
    HUNG_UP = "hung_up"
    SOS = "sos"  # an SOS from the bound phone without signing in, then goodbye


# Tries for each entry (a wrong or silent answer uses one), then a polite goodbye.
MAX_TRIES = 3

# Menu keys.
HEAR_BALANCE = "1"
RECHARGE_WITH_PIN = "2"
PAYMENT_LINK_BY_SMS = "3"
SPEAK_TO_AGENT = "0"
# At the menu; also at the password step when the call comes from the card's bound phone (no password).
SOS = "8"
REPEAT = "9"
# At the emergency-only menu (Step.EMERGENCY), with SOS, SPEAK_TO_AGENT and REPEAT.
EMERGENCY_NUMBERS = "1"
BACK = "*"
