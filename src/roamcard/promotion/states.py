"""Campaign statuses: one set in the file, one in the back office; live only when both are `active`."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import PromotionCampaign


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    ENDED = "ended"


class BenefitKind(StrEnum):
    PERCENT_OFF = "percent_off"
    AMOUNT_OFF = "amount_off"
    BONUS_BALANCE = "bonus_balance"
    BONUS_PACK = "bonus_pack"


DISCOUNT_KINDS = frozenset({BenefitKind.PERCENT_OFF, BenefitKind.AMOUNT_OFF})

S = CampaignStatus
# The back office's status: a pause or an end is lifted only there (a reload of the file never does).
OFFICE_TRANSITIONS = {
    S.ACTIVE: {S.PAUSED, S.ENDED},
    S.PAUSED: {S.ACTIVE, S.ENDED},
    S.ENDED: {S.ACTIVE},
}

# The back office's pause, resume and end: conditional updates of `office_status`, with history.
office_machine = StateMachine(
    "promotion_campaign", PromotionCampaign, OFFICE_TRANSITIONS, status_attribute="office_status"
)
