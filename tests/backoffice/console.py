"""Helpers for back-office tests: staff accounts with a known TOTP secret, and signing in through the
real pages (password, then the authenticator code), CSRF tokens read from the forms like a browser."""

from __future__ import annotations

import itertools
import re

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import AuditEntry, StaffMember
from roamcard.staff import service as staff_service
from roamcard.staff import totp

STAFF_PASSWORD = "correct horse battery"
_emails = itertools.count(1)


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def make_staff(
    database: Database, role: str, *, email: str | None = None, enrolled: bool = True
) -> tuple[StaffMember, str]:
    """A staff member and their TOTP secret (already enrolled unless `enrolled=False`)."""
    secret = pyotp.random_base32()
    with database.transaction() as session:
        member = staff_service.create_staff(
            session, email=email or f"{role}{next(_emails)}@roamcard.test", role=role, password=STAFF_PASSWORD
        )
        if enrolled:
            member.totp_secret_encrypted = totp.encrypt(secret)
            member.totp_enrolled_at = clock.now()
    return member, secret


def code(secret: str) -> str:
    return pyotp.TOTP(secret).at(clock.now())


def sign_in(client: TestClient, member: StaffMember, secret: str) -> TestClient:
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={"email": member.email, "password": STAFF_PASSWORD, "csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin/totp"
    page = client.get("/admin/totp")
    response = client.post(
        "/admin/totp", data={"code": code(secret), "csrf_token": csrf(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/admin"
    return client


def audit_actions(database: Database) -> list[str]:
    with database.reading() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def audit_entries(database: Database, action: str) -> list[AuditEntry]:
    with database.reading() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        )
