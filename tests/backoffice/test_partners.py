"""Back office, partners: the partners, a partner's recent calls and callbacks, and "replay callback" for
a dead one (audited; a callback that is not dead cannot be replayed)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.jobs.outbox import QUEUED
from roamcard.kit import clock
from roamcard.models import Job, PartnerCallback
from roamcard.partner.states import CallbackStatus, callback_machine
from tests.backoffice.console import audit_entries, csrf, make_staff, sign_in
from tests.partner.support import TOPUPS, MadePartner, Platform, make_cards, make_partner, topup_body
from tests.voucher.support import count_rows


def dead_callback(client: TestClient, database: Database) -> tuple[MadePartner, str]:
    partner = make_partner(database)
    card = make_cards(database)
    assert Platform(client, partner).post(TOPUPS, topup_body(card, "dead-1")).status_code == 201
    with database.tx() as tx:
        public_id = tx.value("SELECT public_id FROM partner_callbacks")
        tx.run(
            "UPDATE jobs SET status = 'done', finished_at = :now WHERE kind = 'partner.callback'",
            now=clock.now(),
        )
        assert callback_machine.transition(
            tx, public_id, CallbackStatus.PENDING, CallbackStatus.DEAD, reason="t"
        )
    return partner, str(public_id)


class TestPartnerPages:
    def test_a_supervisor_sees_the_partner_its_calls_and_its_dead_callback_and_replays_it(
        self, client: TestClient, database: Database
    ) -> None:
        partner, callback_id = dead_callback(client, database)
        member, secret = make_staff(database, "supervisor")
        sign_in(client, member, secret)
        listing = client.get("/admin/partners")
        assert listing.status_code == 200
        assert partner.public_id in listing.text
        page = client.get(f"/admin/partners/{partner.public_id}")
        assert page.status_code == 200
        assert callback_id in page.text
        assert "POST /api/v1/partner/topups" in page.text
        assert partner.secret not in page.text
        response = client.post(
            f"/admin/partners/{partner.public_id}/callbacks/{callback_id}/replay",
            data={"reason": "the partner fixed its endpoint", "csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        assert count_rows(database, PartnerCallback, PartnerCallback.status == "pending") == 1
        assert count_rows(database, Job, Job.kind == "partner.callback", Job.status == QUEUED) == 1
        [entry] = audit_entries(database, "partner.callback_replayed")
        assert (entry.staff_email, entry.target_id, entry.reason) == (
            member.email,
            callback_id,
            "the partner fixed its endpoint",
        )
        assert entry.before == {"status": "dead", "attempts": 0}
        again = client.post(
            f"/admin/partners/{partner.public_id}/callbacks/{callback_id}/replay",
            data={"reason": "twice", "csrf_token": csrf(page.text)},
            follow_redirects=False,
        )
        assert again.status_code == 409
        assert len(audit_entries(database, "partner.callback_replayed")) == 1

    def test_an_agent_may_not_see_partners(self, client: TestClient, database: Database) -> None:
        member, secret = make_staff(database, "agent")
        sign_in(client, member, secret)
        assert client.get("/admin/partners").status_code == 403
