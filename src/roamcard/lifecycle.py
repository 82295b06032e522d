"""State machines bound to the `state_transitions` history table: what every lifecycle uses.

kit/state_machine.py is domain-free and runs on the lean `Tx`; this binds it to our history table and
lets ORM callers pass their session (the transition then runs in that session's transaction), with the
constructor every `states.py` uses:

    topup_machine = StateMachine("topup", TopupOrder, TRANSITIONS)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from roamcard.db import tx_of
from roamcard.kit import state_machine
from roamcard.kit.sql import Tx
from roamcard.kit.state_machine import HistoryTable, IllegalTransition

HISTORY = HistoryTable("state_transitions")


def as_tx(db: Session | Tx) -> Tx:
    return db if isinstance(db, Tx) else tx_of(db)


class StateMachine(state_machine.StateMachine):
    def __init__(
        self,
        entity_type: str,
        model: Any,
        transitions: Mapping[Any, Iterable[StrEnum]],
        *,
        id_attribute: str = "id",
        status_attribute: str = "status",
    ):
        super().__init__(
            entity_type,
            model,
            transitions,
            history=HISTORY,
            id_attribute=id_attribute,
            status_attribute=status_attribute,
        )

    def transition(  # type: ignore[override]
        self,
        db: Session | Tx,
        entity_id: str | int,
        source: StrEnum | str,
        target: StrEnum | str,
        *,
        reason: str | None = None,
        **values: Any,
    ) -> bool:
        return super().transition(as_tx(db), entity_id, source, target, reason=reason, **values)

    def transition_from_any(  # type: ignore[override]
        self,
        db: Session | Tx,
        entity_id: str | int,
        sources: Iterable[StrEnum | str],
        target: StrEnum | str,
        *,
        reason: str | None = None,
        **values: Any,
    ) -> str | None:
        return super().transition_from_any(as_tx(db), entity_id, sources, target, reason=reason, **values)

    def record_creation(
        self, db: Session | Tx, entity_id: str | int, status: StrEnum | str, *, at: datetime | None = None
    ) -> None:
        super().record_creation(as_tx(db), entity_id, status, at=at)


__all__ = ["HISTORY", "IllegalTransition", "StateMachine", "as_tx"]
