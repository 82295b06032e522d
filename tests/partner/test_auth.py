"""Partner requests are signed exactly like POS requests (reseller/signing.py): a good signature passes;
a tampered body, another path, a stale timestamp, a reused nonce, an unknown or expired key are 401; a
suspended partner or a caller outside the allow-list is 403. A refusal changes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from roamcard.db import Database
from roamcard.jobs.sweepers import purge_partner_calls
from roamcard.kit import clock
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, PartnerCall, PartnerTopup, RequestNonce, TopupOrder
from roamcard.partner.service import manage
from roamcard.partner.states import PartnerStatus
from tests.dealer.support import Till, make_dealer
from tests.logs import captured_logs
from tests.partner.support import TOPUPS, MadePartner, Platform, make_cards, make_partner, topup_body
from tests.voucher.support import count_rows


@pytest.fixture
def card(database: Database) -> Card:
    return make_cards(database)


@pytest.fixture
def partner(database: Database) -> MadePartner:
    return make_partner(database)


def post_raw(client: TestClient, path: str, body: bytes, headers: dict[str, str]) -> object:
    return client.post(path, content=body, headers={**headers, "Content-Type": "application/json"})


class TestSignatures:
    def test_a_signed_request_is_accepted(self, client: TestClient, partner: MadePartner, card: Card) -> None:
        response = Platform(client, partner).post(TOPUPS, topup_body(card))
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize(
        "tamper", ["body", "path", "stale", "future", "secret", "unknown key", "no nonce"]
    )
    def test_a_bad_signature_is_refused_and_changes_nothing(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card, tamper: str
    ) -> None:
        platform = Platform(client, partner)
        body = json.dumps(topup_body(card)).encode()
        signed_path = "/api/v1/partner/validations" if tamper == "path" else TOPUPS
        now = int(clock.now().timestamp())
        timestamp = {"stale": now - 302, "future": now + 302}.get(tamper)  # the window is 300 s
        headers = platform.headers("POST", signed_path, body, timestamp=timestamp)
        if tamper == "body":
            body = body.replace(b"balance-10", b"balance-50")
        if tamper == "secret":
            headers = Platform(client, partner, secret="rcs_not-the-secret").headers("POST", TOPUPS, body)
        if tamper == "unknown key":
            headers = Platform(client, partner, key_id="pk_unknownunknown").headers("POST", TOPUPS, body)
        if tamper == "no nonce":
            headers.pop("Roamcard-Nonce")
        response = client.post(TOPUPS, content=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 401, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        expected = {
            "stale": "partner_timestamp_invalid",
            "future": "partner_timestamp_invalid",
            "no nonce": "partner_auth_missing",
        }.get(tamper, "partner_signature_invalid")
        assert response.json()["code"] == expected
        assert count_rows(database, TopupOrder) == 0
        assert count_rows(database, PartnerTopup) == 0
        assert count_rows(database, RequestNonce) == 0

    def test_a_reused_nonce_is_refused(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        platform = Platform(client, partner)
        body = json.dumps(topup_body(card)).encode()
        headers = {
            **platform.headers("POST", TOPUPS, body, nonce="the-same-nonce-0001"),
            "Content-Type": "application/json",
        }
        assert client.post(TOPUPS, content=body, headers=headers).status_code == 201
        again = client.post(TOPUPS, content=body, headers=headers)
        assert (again.status_code, again.json()["code"]) == (401, "partner_request_replayed")
        assert count_rows(database, TopupOrder) == 1

    def test_the_query_string_is_signed(self, client: TestClient, partner: MadePartner) -> None:
        platform = Platform(client, partner)
        headers = platform.headers("GET", "/api/v1/partner/products?currency=USD")
        assert client.get("/api/v1/partner/products?currency=CNY", headers=headers).status_code == 401
        headers = platform.headers("GET", "/api/v1/partner/products?currency=USD")
        assert client.get("/api/v1/partner/products?currency=USD", headers=headers).status_code == 200


class TestKeyRotation:
    def test_the_old_key_works_during_the_overlap_and_not_after(
        self,
        client: TestClient,
        database: Database,
        partner: MadePartner,
        card: Card,
        frozen_clock: FrozenClock,
    ) -> None:
        with database.transaction() as session:
            rotated = manage.rotate_key(session, manage.get_partner(session, partner.public_id))
        old = Platform(client, partner)
        new = Platform(client, partner, key_id=rotated.api_key_id, secret=rotated.api_secret)
        assert old.post(TOPUPS, topup_body(card, "during-old")).status_code == 201
        assert new.post(TOPUPS, topup_body(card, "during-new")).status_code == 201
        frozen_clock.advance(hours=23, minutes=59)
        assert old.post(TOPUPS, topup_body(card, "late-old")).status_code == 201
        frozen_clock.advance(minutes=2)
        after = old.post(TOPUPS, topup_body(card, "after-old"))
        assert (after.status_code, after.json()["code"]) == (401, "partner_signature_invalid")
        assert new.post(TOPUPS, topup_body(card, "after-new")).status_code == 201
        assert count_rows(database, PartnerTopup) == 4

    def test_a_shorter_overlap_can_be_chosen(
        self,
        client: TestClient,
        database: Database,
        partner: MadePartner,
        card: Card,
        frozen_clock: FrozenClock,
    ) -> None:
        with database.transaction() as session:
            manage.rotate_key(
                session, manage.get_partner(session, partner.public_id), overlap=timedelta(hours=1)
            )
        frozen_clock.advance(hours=1, seconds=1)
        assert Platform(client, partner).post(TOPUPS, topup_body(card)).status_code == 401


class TestWhoMayCall:
    def test_a_suspended_partner_is_refused_and_its_nonce_stays_burnt(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        with database.transaction() as session:
            manage.set_status(
                session, manage.get_partner(session, partner.public_id), PartnerStatus.SUSPENDED, actor="t"
            )
        response = Platform(client, partner).post(TOPUPS, topup_body(card))
        assert (response.status_code, response.json()["code"]) == (403, "partner_inactive")
        assert count_rows(database, TopupOrder) == 0
        assert count_rows(database, RequestNonce) == 1
        assert count_rows(database, PartnerCall, PartnerCall.status_code == 403) == 1

    def test_a_caller_outside_the_allow_list_is_refused(
        self, app: object, database: Database, card: Card
    ) -> None:
        partner = make_partner(database, allow_ips=["203.0.113.0/24"])
        with TestClient(app, client=("198.51.100.7", 50000)) as outside:  # type: ignore[arg-type]
            response = Platform(outside, partner).post(TOPUPS, topup_body(card))
        assert (response.status_code, response.json()["code"]) == (403, "partner_ip_not_allowed")
        assert count_rows(database, TopupOrder) == 0

    def test_a_caller_inside_the_allow_list_is_accepted(
        self, app: object, database: Database, card: Card
    ) -> None:
        partner = make_partner(database, allow_ips=["203.0.113.0/24", "2001:db8::/32"])
        with TestClient(app, client=("203.0.113.9", 50000)) as inside:  # type: ignore[arg-type]
            assert Platform(inside, partner).post(TOPUPS, topup_body(card)).status_code == 201


class TestRecordedCalls:
    def test_calls_are_kept_30_days(
        self,
        client: TestClient,
        database: Database,
        partner: MadePartner,
        card: Card,
        frozen_clock: FrozenClock,
    ) -> None:
        Platform(client, partner).post(TOPUPS, topup_body(card))
        assert count_rows(database, PartnerCall, PartnerCall.status_code == 201) == 1
        frozen_clock.advance(days=29)
        assert purge_partner_calls(database) == 0
        frozen_clock.advance(days=2)
        assert purge_partner_calls(database) == 1


class TestRefusalsAreCounted:
    """A 401 is counted on a metric (by API and reason only) and logged with the key id, never the secret
    or the signature; nothing is written to the database for it."""

    @staticmethod
    def refused(api: str, reason: str) -> float:
        value = REGISTRY.get_sample_value("roamcard_signed_api_refused_total", {"api": api, "reason": reason})
        return value or 0.0

    def test_unknown_keys_and_bad_signatures_are_counted_and_logged_without_secrets(
        self, client: TestClient, database: Database, partner: MadePartner, card: Card
    ) -> None:
        unknown_before = self.refused("partner", "unknown_key")
        bad_before = self.refused("partner", "signature")
        with captured_logs() as events:
            unknown = Platform(client, partner, key_id="pk_unknownunknown").post(TOPUPS, topup_body(card))
            forged = Platform(client, partner, secret="rcs_not-the-secret").post(TOPUPS, topup_body(card))
            odd = Platform(client, partner, key_id="pk\n<script>").post(TOPUPS, topup_body(card))
        assert [unknown.status_code, forged.status_code, odd.status_code] == [401, 401, 401]
        assert self.refused("partner", "unknown_key") == unknown_before + 2
        assert self.refused("partner", "signature") == bad_before + 1
        rejected = [e for e in events if e["event"] == "partner.rejected"]
        assert [(e["reason"], e["key_id"], e["signer"]) for e in rejected] == [
            ("unknown_key", "pk_unknownunknown", None),
            ("signature", partner.api_key_id, partner.public_id),
            ("unknown_key", "malformed", None),
        ]
        text = repr(events)
        assert partner.secret not in text
        assert "rcs_not-the-secret" not in text
        assert "v1=" not in text
        assert count_rows(database, PartnerCall) == 0
        assert count_rows(database, RequestNonce) == 0

    def test_the_pos_api_counts_under_its_own_name(
        self, client: TestClient, database: Database, card: Card
    ) -> None:
        before = self.refused("pos", "unknown_key")
        till = Till(client, make_dealer(database))
        till.key_id = "dk_unknownunknown"
        assert (
            till.post(
                "/api/v1/pos/topups",
                {"external_id": "x", "card_number": card.card_number, "product_id": "balance-10"},
            ).status_code
            == 401
        )
        assert self.refused("pos", "unknown_key") == before + 1
