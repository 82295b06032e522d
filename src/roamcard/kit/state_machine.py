"""A lifecycle as data: a table of allowed transitions, applied by conditional UPDATE.

`UPDATE … SET status=:to WHERE id=:id AND status=:from`: losing the race is a normal outcome (False),
not an error. Every won transition is recorded with its time through the `history` recorder the machine
is built with (kit stays domain-free: roamcard/lifecycle.py binds it to the `state_transitions` table).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard.kit import clock


class IllegalTransition(ValueError):
    pass


class HistoryRecorder(Protocol):
    """Records one transition in the caller's transaction (`from_status` is None for a creation)."""

    def __call__(
        self,
        session: Session,
        *,
        entity_type: str,
        entity_id: str,
        from_status: str | None,
        to_status: str,
        reason: str | None,
        at: datetime,
    ) -> None: ...


class StateMachine:
    def __init__(
        self,
        entity_type: str,
        model: Any,
        transitions: Mapping[Any, Iterable[StrEnum]],
        *,
        history: HistoryRecorder,
        id_attribute: str = "id",
    ):
        """`id_attribute`: the model's column that names the entity in updates and in the history (a
        public id such as a dealer's `dlr_…`, where the primary key is an internal integer)."""
        self.entity_type = entity_type
        self.model = model
        self.history = history
        self.transitions = {source: frozenset(targets) for source, targets in transitions.items()}
        self._id_column = getattr(model, id_attribute)

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
        if not self.allowed(str(source), str(target)):
            raise IllegalTransition(f"{self.entity_type}: {source} -> {target}")
        now = clock.now()
        extra = {"updated_at": now} if hasattr(self.model, "updated_at") else {}
        result = session.execute(
            update(self.model)
            .where(self._id_column == entity_id, self.model.status == str(source))
            .values(status=str(target), **extra, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.history(
            session,
            entity_type=self.entity_type,
            entity_id=str(entity_id),
            from_status=str(source),
            to_status=str(target),
            reason=reason,
            at=now,
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
        self.history(
            session,
            entity_type=self.entity_type,
            entity_id=str(entity_id),
            from_status=None,
            to_status=str(status),
            reason=None,
            at=clock.now(),
        )
