"""State machines bound to the `state_transitions` history table: what every lifecycle uses.

kit/state_machine.py is domain-free and records history through whatever it is given; this binds it to
our table, with the constructor every `states.py` uses:

    topup_machine = StateMachine("topup", TopupOrder, TRANSITIONS)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from roamcard.kit import state_machine
from roamcard.kit.state_machine import IllegalTransition
from roamcard.models import StateTransition


def record_transition(
    session: Session,
    *,
    entity_type: str,
    entity_id: str,
    from_status: str | None,
    to_status: str,
    reason: str | None,
    at: datetime,
) -> None:
    session.add(
        StateTransition(
            entity_type=entity_type,
            entity_id=entity_id,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            at=at,
        )
    )


class StateMachine(state_machine.StateMachine):
    def __init__(
        self,
        entity_type: str,
        model: Any,
        transitions: Mapping[Any, Iterable[StrEnum]],
        *,
        id_attribute: str = "id",
    ):
        super().__init__(
            entity_type, model, transitions, history=record_transition, id_attribute=id_attribute
        )


__all__ = ["IllegalTransition", "StateMachine", "record_transition"]
