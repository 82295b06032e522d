"""The eSIM profile lifecycle, as the SM-DP+ reports it (docs/architecture.md, "eSIM profiles")."""

from __future__ import annotations

from enum import StrEnum

from roamcard.lifecycle import StateMachine
from roamcard.models import EsimProfile


class EsimStatus(StrEnum):
    AVAILABLE = "available"  # in stock, ready to download
    ALLOCATED = "allocated"  # given to a card, not downloaded yet
    DOWNLOADED = "downloaded"  # the bound profile package reached the phone
    INSTALLED = "installed"
    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"  # deleted on the phone; a supervisor may reissue
    ERROR = "error"  # a step failed; a supervisor may reissue
    RETIRED = "retired"  # replaced by a reissued profile; never used again


S = EsimStatus
TRANSITIONS = {
    S.AVAILABLE: {S.ALLOCATED, S.RETIRED},
    # back to stock: the card order it was reserved for lapsed unpaid (card_order)
    S.ALLOCATED: {
        S.AVAILABLE,
        S.DOWNLOADED,
        S.INSTALLED,
        S.ENABLED,
        S.DISABLED,
        S.DELETED,
        S.ERROR,
        S.RETIRED,
    },
    S.DOWNLOADED: {S.INSTALLED, S.ENABLED, S.DISABLED, S.DELETED, S.ERROR, S.RETIRED},
    S.INSTALLED: {S.ENABLED, S.DISABLED, S.DELETED, S.ERROR, S.RETIRED},
    S.ENABLED: {S.DISABLED, S.DELETED, S.ERROR, S.RETIRED},
    S.DISABLED: {S.ENABLED, S.DELETED, S.ERROR, S.RETIRED},
    # A failed step can still be followed by a later success (the phone retried): error is not terminal.
    S.ERROR: {S.DOWNLOADED, S.INSTALLED, S.ENABLED, S.DISABLED, S.DELETED, S.RETIRED},
    S.DELETED: {S.RETIRED},
    S.RETIRED: set(),
}

# Where each status sits on the way forward; an event never moves a profile to an earlier rank. Enabled
# and disabled share a rank (they alternate); error shares the rank of the step it failed at (see events).
RANK = {
    S.AVAILABLE: 0,
    S.ALLOCATED: 1,
    S.DOWNLOADED: 2,
    S.INSTALLED: 3,
    S.ENABLED: 4,
    S.DISABLED: 4,
    S.DELETED: 5,
    S.ERROR: 1,
    S.RETIRED: 6,
}

# The card holds the profile (it is what the install page shows).
HELD_BY_CARD = tuple(s for s in S if s not in (S.AVAILABLE, S.RETIRED))

esim_machine = StateMachine("esim", EsimProfile, TRANSITIONS)
