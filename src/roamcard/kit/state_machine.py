"""A lifecycle as data: a table of allowed transitions, applied by conditional UPDATE.

`UPDATE … SET status=:to WHERE id=:id AND status=:from`: losing the race is a normal outcome (False),
not an error. Every won transition is recorded with its time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.models import StateTransition


class IllegalTransition(ValueError):
    pass


class StateMachine:
    def __init__(self, entity_type: str, model: Any, transitions: Mapping[Any, Iterable[StrEnum]]):
        self.entity_type = entity_type
        self.model = model
        self.transitions = {source: frozenset(targets) for source, targets in transitions.items()}

    def allowed(self, source: str, target: str) -> bool:
        return any(s == source and target in targets for s, targets in self.transitions.items())

    def terminal(self, status: str) -> bool:
        return not any(s == status and targets for s, targets in self.transitions.items())

    def transition(
        self,
        session: Session,
        entity_id: str | int,
        source: StrEnum | str,
        target: StrEnum | str,
        *,
        reason: str | None = None,
        **values: Any,
    ) -> bool:
        """`entity_id` as the table has it (a public id, or an integer key); history keeps it as text."""
        if not self.allowed(str(source), str(target)):
            raise IllegalTransition(f"{self.entity_type}: {source} -> {target}")
        now = clock.now()
        extra = {"updated_at": now} if hasattr(self.model, "updated_at") else {}
        result = session.execute(
            update(self.model)
            .where(self.model.id == entity_id, self.model.status == str(source))
            .values(status=str(target), **extra, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        session.add(
            StateTransition(
                entity_type=self.entity_type,
                entity_id=str(entity_id),
                from_status=str(source),
                to_status=str(target),
                reason=reason,
                at=now,
            )
        )
        return True

    def transition_from_any(
        self,
        session: Session,
        entity_id: str | int,
        sources: Iterable[StrEnum | str],
        target: StrEnum | str,
        *,
        reason: str | None = None,
        **values: Any,
    ) -> str | None:
        """Try each allowed source in turn; returns the source that won, or None."""
        for source in sources:
            if self.allowed(str(source), str(target)) and self.transition(
                session, entity_id, source, target, reason=reason, **values
            ):
                return str(source)
        return None

    def record_creation(self, session: Session, entity_id: str | int, status: StrEnum | str) -> None:
        session.add(
            StateTransition(
                entity_type=self.entity_type,
                entity_id=str(entity_id),
                from_status=None,
                to_status=str(status),
                at=clock.now(),
            )
        )
