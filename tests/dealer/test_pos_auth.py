"""POS signatures: signed like a till signs, and every way a request can be wrong refused with nothing
moved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from roamcard.db import Database
from roamcard.dealer.service import manage
from roamcard.dealer.states import DealerStatus
from roamcard.kit import clock
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, DealerSale, RequestNonce, TopupOrder
from roamcard.reseller import signing
from tests.dealer.support import MadeDealer, Till, float_balance, make_dealer
from tests.factories import make_card, make_catalog
from tests.voucher.support import count_rows

PATH = "/api/v1/pos/topups"


@pytest.fixture
def dealer(database: Database) -> MadeDealer:
    return make_dealer(database, float_amount=50_000)


@pytest.fixture
def card(database: Database) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session)


def body_for(card: Card, external_id: str = "till-1-0001") -> bytes:
    payload = {"external_id": external_id, "card_number": card.card_number, "product_id": "balance-10"}
    return json.dumps(payload, separators=(",", ":")).encode()


def nothing_moved(database: Database, dealer: MadeDealer) -> None:
    assert float_balance(database, dealer) == 50_000
    assert count_rows(database, DealerSale) == 0
    assert count_rows(database, TopupOrder) == 0


class TestSignedRequests:
    def test_a_correctly_signed_top_up_is_accepted(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        body = body_for(card)
        headers = Till(client, dealer).headers("POST", PATH, body)
        response = client.post(PATH, content=body, headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 201, response.text
        assert float_balance(database, dealer) == 50_000 - 950

    @pytest.mark.parametrize(
        ("case", "code"),
        [
            ("unsigned", "pos_auth_missing"),
            ("no nonce", "pos_auth_missing"),
            ("short nonce", "pos_auth_missing"),
            ("bad signature", "pos_signature_invalid"),
            ("wrong secret", "pos_signature_invalid"),
            ("unknown key", "pos_signature_invalid"),
            ("tampered body", "pos_signature_invalid"),
            ("other path", "pos_signature_invalid"),
            ("other method", "pos_signature_invalid"),
            ("signature without version", "pos_signature_invalid"),
            ("stale", "pos_timestamp_invalid"),
            ("future", "pos_timestamp_invalid"),
            ("garbage timestamp", "pos_timestamp_invalid"),
        ],
    )
    def test_bad_signatures_are_refused_and_nothing_moves(
        self,
        database: Database,
        client: TestClient,
        dealer: MadeDealer,
        card: Card,
        frozen_clock: FrozenClock,  # the server's clock stands still: 301 seconds stays 301
        case: str,
        code: str,
    ) -> None:
        body = body_for(card)
        till = Till(client, dealer)
        now = int(clock.now().timestamp())
        headers: dict[str, Any] = till.headers("POST", PATH, body)
        if case == "unsigned":
            headers = {}
        elif case == "no nonce":
            headers.pop(signing.NONCE_HEADER)
        elif case == "short nonce":
            headers = till.headers("POST", PATH, body, nonce="abc")
        elif case == "bad signature":
            headers[signing.SIGNATURE_HEADER] = headers[signing.SIGNATURE_HEADER][:-4] + "beef"
        elif case == "wrong secret":
            headers = Till(client, dealer, secret="rcs_someone_else").headers("POST", PATH, body)
        elif case == "unknown key":
            headers[signing.KEY_HEADER] = "dk_unknownunknownunknown"
        elif case == "tampered body":
            body = body_for(card).replace(b"balance-10", b"balance-50")
        elif case == "other path":
            headers = till.headers("POST", "/api/v1/pos/vouchers/sell", body)
        elif case == "other method":
            headers = till.headers("PUT", PATH, body)
        elif case == "signature without version":
            headers[signing.SIGNATURE_HEADER] = headers[signing.SIGNATURE_HEADER].removeprefix("v1=")
        elif case == "stale":
            headers = till.headers("POST", PATH, body, timestamp=now - 360)
        elif case == "future":
            headers = till.headers("POST", PATH, body, timestamp=now + 360)
        elif case == "garbage timestamp":
            headers[signing.TIMESTAMP_HEADER] = "yesterday"

        response = client.post(PATH, content=body, headers={**headers, "Content-Type": "application/json"})

        assert (response.status_code, response.json()["code"]) == (401, code), response.text
        assert response.headers["content-type"] == "application/problem+json"
        nothing_moved(database, dealer)

    def test_the_window_is_300_seconds_either_way(
        self,
        database: Database,
        client: TestClient,
        dealer: MadeDealer,
        card: Card,
        frozen_clock: FrozenClock,
    ) -> None:
        till = Till(client, dealer)
        now = int(frozen_clock().timestamp())
        for index, stamp in enumerate((now - 300, now + 300)):
            body = body_for(card, external_id=f"edge-{index}")
            headers = till.headers("POST", PATH, body, timestamp=stamp)
            response = client.post(
                PATH, content=body, headers={**headers, "Content-Type": "application/json"}
            )
            assert response.status_code == 201, response.text

    def test_the_query_string_is_signed(self, client: TestClient, dealer: MadeDealer) -> None:
        till = Till(client, dealer)
        headers = till.headers("GET", "/api/v1/pos/statement?date=2026-01-01")
        response = client.get("/api/v1/pos/statement?date=2026-01-02", headers=headers)
        assert (response.status_code, response.json()["code"]) == (401, "pos_signature_invalid")
        fine = till.headers("GET", "/api/v1/pos/statement?date=2026-01-02")
        assert client.get("/api/v1/pos/statement?date=2026-01-02", headers=fine).status_code == 200


class TestReplays:
    def test_a_replayed_request_is_refused_even_after_the_first_one_failed(
        self, database: Database, client: TestClient, card: Card
    ) -> None:
        dealer = make_dealer(database, float_amount=100)
        body = json.dumps(
            {
                "external_id": "big",
                "card_number": card.card_number,
                "product_id": "balance-custom",
                "amount": 50000,
            }
        ).encode()
        headers = {**Till(client, dealer).headers("POST", PATH, body), "Content-Type": "application/json"}
        first = client.post(PATH, content=body, headers=headers)
        assert (first.status_code, first.json()["code"]) == (402, "insufficient_float")
        with database.transaction() as session:  # money arrives; a captured copy must still not run
            manage.credit_float(session, manage.get_dealer(session, dealer.public_id), 100_000, reference="y")
        replay = client.post(PATH, content=body, headers=headers)
        assert (replay.status_code, replay.json()["code"]) == (401, "pos_request_replayed")
        assert count_rows(database, TopupOrder) == 0

    def test_a_replay_of_an_accepted_request_is_refused(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        body = body_for(card)
        headers = {**Till(client, dealer).headers("POST", PATH, body), "Content-Type": "application/json"}
        assert client.post(PATH, content=body, headers=headers).status_code == 201
        replay = client.post(PATH, content=body, headers=headers)
        assert (replay.status_code, replay.json()["code"]) == (401, "pos_request_replayed")
        assert count_rows(database, TopupOrder) == 1
        assert float_balance(database, dealer) == 50_000 - 950

    def test_old_nonces_are_purged_once_their_timestamps_are_outside_the_window(
        self, database: Database, client: TestClient, dealer: MadeDealer, frozen_clock: FrozenClock
    ) -> None:
        from roamcard.jobs.sweepers import purge_request_nonces

        Till(client, dealer).get("/api/v1/pos/statement?date=2026-01-01")
        assert count_rows(database, RequestNonce) == 1
        frozen_clock.advance(seconds=600)
        assert purge_request_nonces(database) == 0
        frozen_clock.advance(seconds=61)
        assert purge_request_nonces(database) == 1


class TestInactiveDealer:
    def test_a_suspended_dealer_is_refused_with_403_and_nothing_moves(
        self, database: Database, client: TestClient, dealer: MadeDealer, card: Card
    ) -> None:
        with database.transaction() as session:
            manage.set_status(
                session, manage.get_dealer(session, dealer.public_id), DealerStatus.SUSPENDED, actor="t"
            )
        response = Till(client, dealer).post(
            PATH, {"external_id": "s-1", "card_number": card.card_number, "product_id": "balance-10"}
        )
        assert (response.status_code, response.json()["code"]) == (403, "dealer_inactive")
        nothing_moved(database, dealer)
        with database.transaction() as session:
            manage.set_status(
                session, manage.get_dealer(session, dealer.public_id), DealerStatus.ACTIVE, actor="t"
            )
        again = Till(client, dealer).post(
            PATH, {"external_id": "s-1", "card_number": card.card_number, "product_id": "balance-10"}
        )
        assert again.status_code == 201
