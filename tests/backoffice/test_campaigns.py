"""Campaigns in the back office: every role sees them with live counters and previews a price; only
supervisors and admins pause, resume and end one, audited with a reason, through `office_status`, which
a reload of the campaign file never undoes."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.models import Card, PromotionCampaign, StateTransition
from roamcard.promotion.service import office
from tests.backoffice.console import audit_actions, audit_entries, csrf, make_staff, sign_in
from tests.promotion.test_topup import _load, _pay
from tests.topup.test_api_flow import sign_in as card_sign_in
from tests.voucher.support import make_batch

ROLES = ("agent", "supervisor", "finance", "admin")
MANAGERS = {"supervisor", "admin"}
TWENTY = ("spring", '{ kind = "percent_off", percent = 20 }', 'channels = ["web", "api"]')
CASH = ("cash", '{ kind = "bonus_balance", amounts = { USD = 100, CNY = 700 } }', "max_redemptions = 10")


def _staff(database: Database, client: TestClient, role: str) -> TestClient:
    member, secret = make_staff(database, role)
    return sign_in(client, member, secret)


def _status(client: TestClient, campaign_id: str, action: str, reason: str = "stock ran out") -> int:
    token = csrf(client.get("/admin/campaigns").text)
    return client.post(
        f"/admin/campaigns/{campaign_id}/status",
        data={"csrf_token": token, "action": action, "reason": reason},
        follow_redirects=False,
    ).status_code


def _office_status(database: Database, campaign_id: str) -> str:
    with database.reading() as session:
        campaign = session.get(PromotionCampaign, campaign_id)
        assert campaign is not None
        return campaign.office_status


@pytest.mark.parametrize("role", ROLES)
class TestRoles:
    def test_every_role_sees_the_campaigns_and_the_preview(
        self, database: Database, client: TestClient, role: str, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, role)
        listing = staff.get("/admin/campaigns")
        assert listing.status_code == 200
        assert "spring" in listing.text
        assert staff.get("/admin/campaigns/spring").status_code == 200
        assert staff.get("/admin/campaigns-preview").status_code == 200

    def test_only_supervisors_and_admins_pause_a_campaign(
        self, database: Database, client: TestClient, role: str, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, role)
        page = staff.get("/admin/campaigns/spring").text
        status = _status(staff, "spring", "pause")
        if role in MANAGERS:
            assert 'value="pause"' in page
            assert status == 303
            assert _office_status(database, "spring") == "paused"
        else:
            assert 'value="pause"' not in page
            assert status == 403
            assert _office_status(database, "spring") == "active"
            assert not [a for a in audit_actions(database) if a.startswith("campaign.")]


class TestPauseResumeEnd:
    def test_a_pause_is_audited_with_its_reason_and_survives_a_reload_of_the_file(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, "supervisor")
        assert _status(staff, "spring", "pause", "budget review") == 303
        [entry] = audit_entries(database, "campaign.paused")
        assert (entry.target_type, entry.target_id, entry.reason) == ("campaign", "spring", "budget review")
        assert entry.before == {"office_status": "active", "file_status": "active"}
        assert entry.after == {"office_status": "paused"}
        _load(database, tmp_path, TWENTY)  # the file says active: the back office's pause stands
        assert _office_status(database, "spring") == "paused"
        with database.reading() as session:
            history = [
                (t.from_status, t.to_status)
                for t in session.query(StateTransition).filter_by(entity_type="promotion_campaign")
            ]
        assert history == [("active", "paused")]
        auth = card_sign_in(client, card.card_number)
        body = {"product_id": "data-5gb-30d", "currency": "CNY"}
        assert client.post("/api/v1/quotes", json=body, headers=auth).json()["discounts"] == []
        assert _status(staff, "spring", "resume", "review done") == 303
        assert client.post("/api/v1/quotes", json=body, headers=auth).json()["charge"]["amount"] == 8640
        assert [a for a in audit_actions(database) if a.startswith("campaign.")] == [
            "campaign.paused",
            "campaign.resumed",
        ]

    def test_an_ended_campaign_cannot_be_paused_and_the_refusal_is_audited(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, "admin")
        assert _status(staff, "spring", "end") == 303
        assert _status(staff, "spring", "pause") == 409
        assert _office_status(database, "spring") == "ended"
        assert [a for a in audit_actions(database) if a.startswith("campaign.")] == [
            "campaign.ended",
            "campaign.paused.failed",
        ]

    def test_a_reason_is_required(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, "admin")
        assert _status(staff, "spring", "pause", "  ") == 422
        assert _office_status(database, "spring") == "active"

    def test_a_form_without_its_csrf_token_is_refused(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, "admin")
        response = staff.post(
            "/admin/campaigns/spring/status", data={"action": "pause", "reason": "x"}, follow_redirects=False
        )
        assert response.status_code == 403
        assert _office_status(database, "spring") == "active"


class TestCounters:
    def test_redemptions_and_value_given_per_day_and_channel(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, CASH)
        auth = card_sign_in(client, card.card_number)
        created = client.post(
            "/api/v1/topups",
            json={"product_id": "balance-10", "currency": "USD", "payment_method": "sandbox"},
            headers={**auth, "Idempotency-Key": "k1"},
        ).json()
        unpaid = client.post(
            "/api/v1/topups",
            json={"product_id": "balance-10", "currency": "USD", "payment_method": "sandbox"},
            headers={**auth, "Idempotency-Key": "k2"},
        ).json()
        assert created["bonuses"]
        assert unpaid["bonuses"]
        _pay(database, client, created)
        batch = make_batch(database, count=1, face_value=1000)
        assert (
            client.post("/api/v1/vouchers/redeem", json={"pin": batch.pin(0)}, headers=auth).status_code
            == 201
        )
        with database.reading() as session:
            [report] = office.reports(session, "cash")
        assert report.total.redemptions == 2  # the unpaid order holds a slot but is no redemption
        assert report.total.value == {"USD": 200}
        assert {ch: t.redemptions for ch, t in report.by_channel.items()} == {"api": 1, "voucher": 1}
        assert sum(t.redemptions for t in report.by_day.values()) == 2
        assert report.slots_held == 3
        staff = _staff(database, client, "finance")
        page = staff.get("/admin/campaigns/cash").text
        assert "voucher" in page
        assert "api" in page
        assert "2 / 10" in page


class TestPreview:
    def test_the_preview_is_the_quote_step_for_that_card_product_and_channel(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, "agent")
        query = f"card={card.card_number}&product_id=data-5gb-30d&currency=CNY"
        web = staff.get(f"/admin/campaigns-preview?{query}&channel=web")
        assert web.status_code == 200
        assert "86.40" in web.text  # ¥108.00 less 20 %
        assert "108.00" in web.text
        ivr = staff.get(f"/admin/campaigns-preview?{query}&channel=ivr")
        assert "86.40" not in ivr.text  # the campaign is not for the hotline
        [first, _second] = audit_entries(database, "campaign.previewed")
        assert (first.card_id, first.after) == (
            card.id,
            {"product_id": "data-5gb-30d", "channel": "web", "charge": 8640},
        )

    def test_an_unknown_card_or_code_is_said_on_the_page(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        _load(database, tmp_path, TWENTY)
        staff = _staff(database, client, "finance")
        missing = staff.get("/admin/campaigns-preview?card=0000000000&product_id=balance-10")
        assert missing.status_code == 404
        wrong = staff.get(
            f"/admin/campaigns-preview?card={card.card_number}&product_id=balance-10&promo_code=NOPE"
        )
        assert wrong.status_code == 422
        assert not audit_entries(database, "campaign.previewed")


class TestReceiptSms:
    def test_the_resent_receipt_names_the_promotions_as_the_fulfilment_sms_does(
        self, database: Database, client: TestClient, tmp_path: Path, card: Card
    ) -> None:
        from sqlalchemy import select

        from roamcard.models import Notification

        _load(database, tmp_path, TWENTY)
        auth = card_sign_in(client, card.card_number)
        created = client.post(
            "/api/v1/topups",
            json={"product_id": "data-5gb-30d", "currency": "CNY", "payment_method": "sandbox"},
            headers={**auth, "Idempotency-Key": "k1"},
        ).json()
        assert created["discounts"]
        _pay(database, client, created)
        staff = _staff(database, client, "agent")
        token = csrf(staff.get(f"/admin/cards/{card.card_number}").text)
        sent = staff.post(
            f"/admin/cards/{card.card_number}/orders/{created['id']}/receipt",
            data={"csrf_token": token, "reason": "caller lost the SMS"},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
        with database.reading() as session:
            bodies = dict(session.execute(select(Notification.template, Notification.body)).all())  # type: ignore[arg-type]
        given = "春节充值特惠 −¥21.60" if card.language == "zh-CN" else "Spring Festival offer −¥21.60"
        assert given in bodies["topup_fulfilled"]
        assert given in bodies["receipt"]
