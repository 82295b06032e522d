"""kit.sql.Tx on both engines: parameters, literals, values as SQLAlchemy stores them, savepoints."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from roamcard.db import Database
from roamcard.kit.sql import Tx, _compile


def test_a_colon_inside_a_quoted_literal_is_text_not_a_parameter() -> None:
    sql = "SELECT 'card:' || :card || ':wallet:' || 'it''s :not' WHERE a = :a"
    assert _compile(sql, False) == "SELECT 'card:' || %(card)s || ':wallet:' || 'it''s :not' WHERE a = %(a)s"
    assert _compile("SELECT '5%' LIKE :p::text", False) == "SELECT '5%%' LIKE %(p)s::text"


def test_parameters_literals_and_json_on_both_engines(database: Database) -> None:
    with database.autocommit() as tx:
        row = tx.one("SELECT 'a:b' || :x, :n + 1", x="c", n=41)
    assert row == ("a:bc", 42)


def test_a_datetime_is_stored_as_sqlalchemy_stores_it_and_read_back_aware(database: Database) -> None:
    at = datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with database.tx() as tx:
        tx.run(
            "INSERT INTO state_transitions (entity_type, entity_id, from_status, to_status, reason, at) "
            "VALUES ('test', 'x1', NULL, 'new', NULL, :at)",
            at=at,
        )
    with database.reading() as session:
        from sqlalchemy import select

        from roamcard.models import StateTransition

        stored = session.scalars(select(StateTransition).where(StateTransition.entity_id == "x1")).one()
        assert stored.at == at  # what the ORM reads back is the same instant
    with database.autocommit() as tx:
        assert tx.dt(tx.value("SELECT at FROM state_transitions WHERE entity_id = 'x1'")) == at


def test_a_rolled_back_savepoint_undoes_its_writes_and_its_after_commit_work(database: Database) -> None:
    ran: list[str] = []

    def undone_block(tx: Tx) -> None:
        with tx.savepoint():
            tx.run(
                "INSERT INTO state_transitions (entity_type, entity_id, from_status, to_status, reason, at) "
                "VALUES ('test', 'undone', NULL, 'new', NULL, :at)",
                at=datetime.now(UTC),
            )
            tx.after_commit(lambda: ran.append("inner"))
            raise RuntimeError("undo this block")

    with database.tx() as tx:
        tx.after_commit(lambda: ran.append("outer"))
        with pytest.raises(RuntimeError):
            undone_block(tx)
    assert ran == ["outer"]
    with database.autocommit() as tx:
        assert tx.value("SELECT count(*) FROM state_transitions WHERE entity_id = 'undone'") == 0


def test_nothing_registered_after_commit_runs_after_a_rollback(database: Database) -> None:
    ran: list[str] = []

    def failing_unit() -> None:
        with database.tx() as tx:
            tx.after_commit(lambda: ran.append("never"))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        failing_unit()
    assert ran == []
