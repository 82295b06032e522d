"""A lifecycle as data: a table of allowed transitions, applied by conditional UPDATE with a history row.

`UPDATE … SET status=:to WHERE id=:id AND status=:from`: losing the race is a normal outcome (False),
not an error. Every won transition writes one row to the history table the machine is given (kit stays
domain-free: roamcard/lifecycle.py names our table). On PostgreSQL the UPDATE and the history INSERT are
one statement (a data-modifying CTE), so a transition costs one round trip; SQLite runs the two in turn
inside the same transaction. The SQL of each (transition, extra columns) is written once and cached;
table and column names come from the mapped model, never from input (hence the S608 waivers).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from roamcard.kit import clock
from roamcard.kit.sql import Tx


class IllegalTransition(ValueError):
    pass


@dataclass(frozen=True)
class HistoryTable:
    """Where transitions are recorded: (entity_type, entity_id, from_status, to_status, reason, at)."""

    name: str

    def insert_into(self) -> str:
        """`INSERT INTO … (columns) `: the start of any statement that writes history rows."""
        return f"INSERT INTO {self.name} (entity_type, entity_id, from_status, to_status, reason, at) "

    def insert_sql(self) -> str:
        return (
            f"{self.insert_into()}VALUES (:entity_type, :entity_id, :from_status, :to_status, :reason, :at)"
        )


class StateMachine:
    def __init__(
        self,
        entity_type: str,
        model: Any,
        transitions: Mapping[Any, Iterable[StrEnum]],
        *,
        history: HistoryTable,
        id_attribute: str = "id",
        status_attribute: str = "status",
    ):
        """`model`: the mapped class whose table holds `status` (and `updated_at`, if it has one).
        `id_attribute`: the column that names the entity in updates and in the history (a public id such
        as a dealer's `dlr_…`, where the primary key is an internal integer). `status_attribute`: the
        column of the status, when a row has more than one lifecycle (a campaign's `office_status`)."""
        self.entity_type = entity_type
        self.model = model
        self.history = history
        self.transitions = {source: frozenset(targets) for source, targets in transitions.items()}
        self._table = model.__tablename__
        self._id_column = getattr(model, id_attribute).property.columns[0].name
        self._status_column = getattr(model, status_attribute).property.columns[0].name
        self._has_updated_at = hasattr(model, "updated_at")
        self._sql: dict[tuple[bool, tuple[str, ...]], str] = {}

    def allowed(self, source: str, target: str) -> bool:
        return any(s == source and target in targets for s, targets in self.transitions.items())

    def terminal(self, status: str) -> bool:
        return not any(s == status and targets for s, targets in self.transitions.items())

    def _transition_sql(self, sqlite: bool, columns: tuple[str, ...]) -> str:
        sql = self._sql.get((sqlite, columns))
        if sql is None:
            assignments = ", ".join(
                [f"{self._status_column} = :to_status"]
                + (["updated_at = :at"] if self._has_updated_at else [])
                + [f"{column} = :v_{column}" for column in columns]
            )
            update = (
                f"UPDATE {self._table} SET {assignments} "
                f"WHERE {self._id_column} = :entity_key AND {self._status_column} = :from_status"
            )
            if sqlite:
                sql = update
            else:
                sql = (
                    f"WITH moved AS ({update} RETURNING 1) {self.history.insert_into()}"
                    "SELECT :entity_type, :entity_id, :from_status, :to_status, :reason, :at FROM moved"
                )
            self._sql[(sqlite, columns)] = sql
        return sql

    def transition(
        self,
        tx: Tx,
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
        params = {
            "entity_key": entity_id,
            "entity_type": self.entity_type,
            "entity_id": str(entity_id),
            "from_status": str(source),
            "to_status": str(target),
            "reason": reason,
            "at": now,
            # A list or dict is a JSON column's value (e.g. a refund's reversals).
            **{
                f"v_{column}": tx.json(value) if isinstance(value, list | dict) else value
                for column, value in values.items()
            },
        }
        sql = self._transition_sql(tx.is_sqlite, tuple(values))
        if not tx.is_sqlite:
            return tx.run(sql, **params) == 1
        if tx.run(sql, **params) != 1:
            return False
        del params["entity_key"]
        for column in values:
            del params[f"v_{column}"]
        tx.run(self.history.insert_sql(), **params)
        return True

    def transition_from_any(
        self,
        tx: Tx,
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
                tx, entity_id, source, target, reason=reason, **values
            ):
                return str(source)
        return None

    def record_creation(
        self, tx: Tx, entity_id: str | int, status: StrEnum | str, *, at: datetime | None = None
    ) -> None:
        tx.run(
            self.history.insert_sql(),
            entity_type=self.entity_type,
            entity_id=str(entity_id),
            from_status=None,
            to_status=str(status),
            reason=None,
            at=at or clock.now(),
        )
