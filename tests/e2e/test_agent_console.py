"""In a real browser: an agent signs in (password, then the authenticator code), finds a caller's card by
phone number and resets its service password; the new password goes only to the bound phone."""

from __future__ import annotations

import re

import pyotp
import pytest
from sqlalchemy import select

from roamcard.card import passwords
from roamcard.models import AuditEntry, Card, Notification
from tests.backoffice.console import STAFF_PASSWORD, make_staff
from tests.e2e.conftest import LiveServer
from tests.factories import DEFAULT_PASSWORD, sms_text

pytestmark = pytest.mark.browser


def test_an_agent_finds_a_card_and_resets_its_password(live_server: LiveServer, context_factory) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    card = live_server.new_card(phone="+8613855556666", language="en")
    member, secret = make_staff(live_server.database, "agent")
    page = context_factory(locale="en-US").new_page()

    page.goto("/admin")
    expect(page).to_have_url(re.compile(r"/admin/login$"))
    page.fill("input[name=email]", member.email)
    page.fill("input[name=password]", STAFF_PASSWORD)
    page.click("button:has-text('Continue')")
    expect(page).to_have_url(re.compile(r"/admin/totp$"))
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("main button:has-text('Sign in')")
    expect(page).to_have_url(re.compile(r"/admin$"))

    page.fill("input[name=q]", "+86 138 5555 6666")
    page.click("button:has-text('Search')")
    expect(page).to_have_url(re.compile(rf"/admin/cards/{card.card_number}$"))
    expect(page.locator("#card-number")).to_have_text(card.card_number)
    expect(page.locator("#card-status")).to_have_text("active")

    reset = page.locator("form#password-reset")
    reset.locator("input[name=reason]").fill("caller forgot the password; identity checked")
    reset.locator("button").click()
    expect(page.locator(".notice")).to_contain_text(
        "A new service password was sent by SMS to +86138****6666"
    )
    live_server.shot(page, "agent-console-password-reset")

    with live_server.database.reading() as session:
        sms = session.scalars(
            select(Notification).where(
                Notification.card_id == card.id, Notification.template == "password_reset"
            )
        ).one()
        fresh = session.get(Card, card.id)
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "card.password_reset")).one()
    new_password = re.search(r"New password: (\d+)", sms_text(sms)).group(1)  # type: ignore[union-attr]
    assert sms.phone == "+8613855556666"
    assert fresh is not None
    assert passwords.verify_password(fresh.password_hash, new_password)
    assert not passwords.verify_password(fresh.password_hash, DEFAULT_PASSWORD)
    assert new_password not in page.content()
    assert (entry.staff_email, entry.reason) == (member.email, "caller forgot the password; identity checked")
