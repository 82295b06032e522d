"""The audit log is append-only (the database itself refuses UPDATE and DELETE, on both engines) and
supervisors can read and filter it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, text, update
from sqlalchemy.exc import DatabaseError

from roamcard.audit import service as audit
from roamcard.audit.service import Actor, AuditLogIsAppendOnly
from roamcard.db import Database
from roamcard.models import AuditEntry, Card
from tests.backoffice.console import csrf, make_staff, sign_in

ACTOR = Actor(staff_id=None, email="someone@roamcard.test", role="agent", client_ip="127.0.0.1")


def _entry(database: Database) -> int:
    with database.transaction() as session:
        return audit.record(session, ACTOR, "card.viewed", target_type="card", target_id="x", reason="r").id


class TestAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            update(AuditEntry).values(reason="rewritten"),
            delete(AuditEntry),
        ],
        ids=["update", "delete"],
    )
    def test_the_database_refuses_to_change_history(self, database: Database, statement: object) -> None:
        _entry(database)
        with pytest.raises(DatabaseError, match="append-only"), database.transaction() as session:
            session.execute(statement)  # type: ignore[call-overload]
        with database.reading() as session:
            assert session.query(AuditEntry).one().reason == "r"

    def test_raw_sql_is_refused_too(self, database: Database) -> None:
        _entry(database)
        with pytest.raises(DatabaseError), database.transaction() as session:
            session.execute(text("UPDATE audit_log SET action = 'nothing'"))

    def test_the_orm_refuses_before_the_database_is_asked(self, database: Database) -> None:
        entry_id = _entry(database)
        with database.transaction() as session:
            entry = session.get(AuditEntry, entry_id)
            assert entry is not None
            entry.reason = "rewritten"
            with pytest.raises(AuditLogIsAppendOnly):
                session.flush()
            session.rollback()

    def test_secrets_are_refused_as_before_or_after_keys(self, database: Database) -> None:
        with pytest.raises(ValueError, match="never hold secrets"), database.transaction() as session:
            audit.record(session, ACTOR, "x", target_type="card", target_id="1", after={"new_password": "1"})


class TestReadingTheLog:
    def test_supervisors_filter_by_staff_action_card_and_day(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        agent, agent_secret = make_staff(database, "agent", email="agent@roamcard.test")
        sign_in(client, agent, agent_secret)
        token = csrf(client.get("/admin").text)
        client.post(
            f"/admin/cards/{card.card_number}/suspend",
            data={"csrf_token": token, "reason": "lost"},
            follow_redirects=False,
        )

        supervisor = TestClient(client.app)
        sign_in(supervisor, *make_staff(database, "supervisor", email="boss@roamcard.test"))

        def rows(**params: str) -> list[str]:
            html = supervisor.get("/admin/audit", params=params).text
            return [
                line.split(">")[1].split("<")[0]
                for line in html.splitlines()
                if 'class="action-name"' in line
            ]

        assert rows() == ["staff.sign_in", "card.suspended", "staff.sign_in"]  # newest first
        assert rows(staff="agent@roamcard.test") == ["card.suspended", "staff.sign_in"]
        assert rows(action="card.suspended") == ["card.suspended"]
        assert rows(card=card.card_number) == ["card.suspended"]
        assert rows(card="+8613812345678", action="card.suspended") == ["card.suspended"]
        assert rows(since="2000-01-01", until="2000-01-02") == []
        page = supervisor.get("/admin/audit", params={"action": "card.suspended"}).text
        assert "lost" in page
        assert '{"status": "active"}' in page
        assert '{"status": "suspended"}' in page

    def test_agents_and_finance_cannot_read_it(self, client: TestClient, database: Database) -> None:
        for role in ("agent", "finance"):
            browser = TestClient(client.app)
            sign_in(browser, *make_staff(database, role))
            assert browser.get("/admin/audit").status_code == 403
