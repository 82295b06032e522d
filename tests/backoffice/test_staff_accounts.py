"""Staff accounts in the back office, admin only: create (first password shown once, then the new member
signs in with it and enrols an authenticator), change a role, reset a lost authenticator; all audited."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.models import StaffMember, StaffSession
from tests.backoffice.console import audit_actions, audit_entries, csrf, make_staff, sign_in

ROLES = ("agent", "supervisor", "finance", "admin")
EN = {"Accept-Language": "en"}


def _token(client: TestClient) -> str:
    return csrf(client.get("/admin/staff", headers=EN).text)


def _post(client: TestClient, path: str, **fields: str) -> object:
    data = {"reason": "new hire", **fields}
    if "csrf_token" not in data:
        data["csrf_token"] = _token(client)
    return client.post(path, data=data, headers=EN, follow_redirects=False)


def _member(database: Database, email: str) -> StaffMember | None:
    with database.reading() as session:
        member = session.scalars(select(StaffMember).where(StaffMember.email == email)).one_or_none()
        if member is not None:
            session.expunge(member)
        return member


def _staff_audits(database: Database) -> list[str]:
    return [a for a in audit_actions(database) if a.startswith("staff.") and a != "staff.sign_in"]


@pytest.mark.parametrize("role", ROLES)
def test_only_an_admin_manages_staff(role: str, client: TestClient, database: Database) -> None:
    other, _ = make_staff(database, "agent")
    sign_in(client, *make_staff(database, role))
    page = client.get("/admin/staff", headers=EN)
    if role == "admin":
        assert page.status_code == 200
        assert other.email in page.text
        return
    assert page.status_code == 403
    token = csrf(client.get("/admin/refunds" if role == "finance" else "/admin", headers=EN).text)
    for path, fields in (
        ("/admin/staff", {"email": "x@roamcard.test", "role": "admin"}),
        (f"/admin/staff/{other.id}/role", {"role": "admin"}),
        (f"/admin/staff/{other.id}/totp-reset", {}),
    ):
        response = _post(client, path, csrf_token=token, **fields)
        assert response.status_code == 403, path  # type: ignore[attr-defined]
    assert _member(database, "x@roamcard.test") is None
    kept = _member(database, other.email)
    assert kept is not None
    assert (kept.role, kept.totp_enrolled_at is not None) == ("agent", True)
    assert _staff_audits(database) == []


class TestAccounts:
    def test_a_created_account_shows_its_first_password_once_and_signs_in_with_it(
        self, client: TestClient, database: Database, app: object
    ) -> None:
        sign_in(client, *make_staff(database, "admin", email="boss@roamcard.test"))
        response = _post(client, "/admin/staff", email=" Li.Na@Example.com ", role="finance")
        assert response.status_code == 200  # type: ignore[attr-defined]
        text = response.text  # type: ignore[attr-defined]
        match = re.search(r'<code class="secret">([^<]+)</code>', text)
        assert match
        password = match.group(1)
        assert len(password) >= 12
        assert "shown only this once" in text
        assert password not in client.get("/admin/staff", headers=EN).text
        member = _member(database, "li.na@example.com")
        assert member is not None
        assert (member.role, member.totp_enrolled_at) == ("finance", None)
        (entry,) = audit_entries(database, "staff.created")
        assert entry.after == {"email": "li.na@example.com", "role": "finance"}
        assert (entry.staff_email, entry.reason) == ("boss@roamcard.test", "new hire")
        assert password not in str(entry.after) + str(entry.before) + str(entry.reason)

        with TestClient(app) as newcomer:  # type: ignore[arg-type]
            login = newcomer.get("/admin/login")
            answer = newcomer.post(
                "/admin/login",
                data={"email": "li.na@example.com", "password": password, "csrf_token": csrf(login.text)},
                follow_redirects=False,
            )
            assert answer.status_code == 303
            assert answer.headers["location"] == "/admin/enrol"

    def test_an_email_is_taken_once_and_must_be_valid(self, client: TestClient, database: Database) -> None:
        existing, _ = make_staff(database, "agent")
        sign_in(client, *make_staff(database, "admin"))
        taken = _post(client, "/admin/staff", email=existing.email, role="agent")
        assert taken.status_code == 409  # type: ignore[attr-defined]
        invalid = _post(client, "/admin/staff", email="not-an-email", role="agent")
        assert invalid.status_code == 422  # type: ignore[attr-defined]
        assert "Enter a valid email address." in invalid.text  # type: ignore[attr-defined]
        assert _staff_audits(database) == ["staff.created.failed", "staff.created.failed"]

    def test_a_role_change_is_audited_and_applies_at_once(
        self, client: TestClient, database: Database
    ) -> None:
        agent, agent_secret = make_staff(database, "agent")
        sign_in(client, *make_staff(database, "admin"))
        response = _post(client, f"/admin/staff/{agent.id}/role", role="supervisor", reason="promoted")
        assert response.headers["location"] == "/admin/staff?done=role"  # type: ignore[attr-defined]
        changed = _member(database, agent.email)
        assert changed is not None
        assert changed.role == "supervisor"
        (entry,) = audit_entries(database, "staff.role_changed")
        assert (entry.before, entry.after, entry.reason) == (
            {"email": agent.email, "role": "agent"},
            {"email": agent.email, "role": "supervisor"},
            "promoted",
        )
        client.cookies.clear()
        sign_in(client, agent, agent_secret)
        assert client.get("/admin/audit").status_code == 200  # a supervisor's page

    def test_the_last_admin_and_ones_own_account_keep_their_role(
        self, client: TestClient, database: Database
    ) -> None:
        admin, _ = make_staff(database, "admin")
        sign_in(client, admin, _)
        own = _post(client, f"/admin/staff/{admin.id}/role", role="agent")
        assert own.status_code == 409  # type: ignore[attr-defined]
        from roamcard.staff import service as staff_service

        with database.transaction() as session:
            member = session.get(StaffMember, admin.id)
            assert member is not None
            with pytest.raises(staff_service.LastAdmin):
                staff_service.change_role(session, member, "agent")
        kept = _member(database, admin.email)
        assert kept is not None
        assert kept.role == "admin"
        assert _staff_audits(database) == ["staff.role_changed.failed"]

    def test_a_totp_reset_ends_the_sessions_and_the_next_sign_in_enrols(
        self, client: TestClient, database: Database, app: object
    ) -> None:
        agent, agent_secret = make_staff(database, "agent")
        with TestClient(app) as agents_browser:  # type: ignore[arg-type]
            sign_in(agents_browser, agent, agent_secret)
            assert agents_browser.get("/admin").status_code == 200
            sign_in(client, *make_staff(database, "admin"))
            response = _post(client, f"/admin/staff/{agent.id}/totp-reset", reason="lost phone")
            assert response.headers["location"] == "/admin/staff?done=totp"  # type: ignore[attr-defined]
            assert agents_browser.get("/admin", follow_redirects=False).status_code == 303  # signed out
        reset = _member(database, agent.email)
        assert reset is not None
        assert (reset.totp_secret_encrypted, reset.totp_enrolled_at) == (None, None)
        with database.reading() as session:
            live = session.scalars(
                select(StaffSession).where(
                    StaffSession.staff_id == agent.id, StaffSession.revoked_at.is_(None)
                )
            ).all()
        assert live == []
        (entry,) = audit_entries(database, "staff.totp_reset")
        assert (entry.reason, entry.after["totp_enrolled"]) == ("lost phone", False)  # type: ignore[index]
        with TestClient(app) as again:  # type: ignore[arg-type]
            login = again.get("/admin/login")
            answer = again.post(
                "/admin/login",
                data={
                    "email": agent.email,
                    "password": "correct horse battery",
                    "csrf_token": csrf(login.text),
                },
                follow_redirects=False,
            )
            assert answer.headers["location"] == "/admin/enrol"
            enrol = again.get("/admin/enrol")
            assert 'class="secret"' in enrol.text or "data:image" in enrol.text

    def test_csrf_is_required(self, client: TestClient, database: Database) -> None:
        agent, _ = make_staff(database, "agent")
        sign_in(client, *make_staff(database, "admin"))
        for path, fields in (
            ("/admin/staff", {"email": "y@roamcard.test", "role": "agent"}),
            (f"/admin/staff/{agent.id}/role", {"role": "admin"}),
            (f"/admin/staff/{agent.id}/totp-reset", {}),
        ):
            assert _post(client, path, csrf_token="forged", **fields).status_code == 403  # type: ignore[attr-defined]
        assert _member(database, "y@roamcard.test") is None
        assert _staff_audits(database) == []

    def test_the_page_is_localised(self, client: TestClient, database: Database) -> None:
        sign_in(client, *make_staff(database, "admin"))
        page = client.get("/admin/staff", headers={"Accept-Language": "zh-CN"}).text
        assert "员工账户" in page
        assert "管理员" in page
