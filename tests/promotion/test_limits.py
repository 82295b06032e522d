"""Wrong promo codes are limited per card and per client like recharge PINs (promotion/service/limits.py):
429 promo_code_locked with Retry-After, freed an hour after the oldest; wrong PINs count apart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.errors import AppError
from roamcard.kit import clock
from roamcard.models import VoucherAttempt
from roamcard.payment.providers.base import ClientContext
from roamcard.topup.service.create import place_quote, place_topup
from tests.factories import make_card, make_catalog
from tests.promotion.test_quotes import CODE, _field_error, _quote, _topup
from tests.promotion.test_topup import TWENTY, _load
from tests.topup.test_api_flow import sign_in


def _wrong(client: TestClient, auth: dict[str, str], n: int, key: str = "w") -> None:
    for i in range(n):
        _field_error(_topup(client, auth, f"{key}{i}", promo_code=f"NOPE{i}"), "promo_code_unknown")


class TestPerCard:
    def test_the_sixth_wrong_code_within_an_hour_is_429_until_the_oldest_is_an_hour_old(
        self,
        database: Database,
        client: TestClient,
        auth: dict[str, str],
        tmp_path: Path,
        frozen_clock: clock.FrozenClock,
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        _wrong(client, auth, 5)
        locked = _topup(client, auth, "k", promo_code="SPRING2027")
        assert (locked.status_code, locked.json()["code"]) == (429, "promo_code_locked")
        assert 3500 < int(locked.headers["Retry-After"]) <= 3600
        quote = _quote(client, auth, promo_code="SPRING2027")
        assert (quote.status_code, quote.json()["code"]) == (429, "promo_code_locked")
        # An order without a code is not held up; the key of a refused order is free again.
        assert _topup(client, auth, "plain").status_code == 201
        frozen_clock.advance(hours=1, seconds=1)
        assert _topup(client, auth, "k", promo_code="SPRING2027").json()["price"]["amount"] == 8640

    def test_a_retry_of_an_order_placed_before_the_lock_out_gets_its_first_answer(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        first = _topup(client, auth, "placed", promo_code="SPRING2027")
        assert first.status_code == 201, first.text
        _wrong(client, auth, 5)
        again = _topup(client, auth, "placed", promo_code="SPRING2027")
        assert (again.status_code, again.headers.get("Idempotent-Replayed")) == (201, "true")
        assert again.json()["id"] == first.json()["id"]

    def test_wrong_codes_in_quotes_count_and_are_recorded_without_the_code(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        for i in range(5):
            _field_error(_quote(client, auth, promo_code=f"NOPE{i}"), "promo_code_unknown")
        assert _topup(client, auth, promo_code="SPRING2027").status_code == 429
        with database.reading() as session:
            outcomes = session.scalars(select(VoucherAttempt.outcome)).all()
            assert outcomes == ["wrong_promo_code"] * 5
            assert (
                session.scalar(
                    select(func.count())
                    .select_from(VoucherAttempt)
                    .where(VoucherAttempt.voucher_id.is_not(None))
                )
                == 0
            )

    def test_a_right_code_that_does_not_apply_is_not_a_wrong_code(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE + '\nchannels = ["ivr"]'))
        for i in range(7):
            _field_error(_topup(client, auth, f"n{i}", promo_code="SPRING2027"), "promo_code_not_applicable")


class TestPerClient:
    def test_wrong_codes_from_one_client_over_several_cards_lock_that_client(
        self, database: Database, client: TestClient, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        with database.transaction() as session:
            make_catalog(session)
            numbers = [make_card(session).card_number for _ in range(3)]
        auths = [sign_in(client, number) for number in numbers]
        _wrong(client, auths[0], 3, "a")
        _wrong(client, auths[1], 2, "b")
        locked = _topup(client, auths[2], promo_code="SPRING2027")
        assert (locked.status_code, locked.json()["code"]) == (429, "promo_code_locked")
        assert "Retry-After" in locked.headers


def _attempt(database: Database, token: str, i: int) -> str:
    """One wrong code from its own client (so only the card's limit applies): a quote or an order."""
    ip = f"198.51.100.{i}"
    try:
        if i % 2:
            place_quote(
                database,
                token,
                client_key=ip,
                product_id="data-5gb-30d",
                currency="CNY",
                amount=None,
                payment_method=None,
                promo_code=f"NOPE{i}",
            )
        else:
            place_topup(
                database,
                token,
                scope=lambda card_id: f"card:{card_id}:topups",
                key=f"p{i}",
                fingerprint=f"f{i}",
                render=lambda order, payment: {"id": order.id},
                client=ClientContext(ip=ip),
                product_id="data-5gb-30d",
                currency="CNY",
                payment_method="sandbox",
                promo_code=f"NOPE{i}",
            )
    except AppError as refused:
        return refused.code
    return "accepted"


class TestParallelAttempts:
    @pytest.mark.parametrize("parallel", [16])
    def test_parallel_wrong_codes_of_one_card_get_exactly_the_limit_of_tries(
        self, database: Database, auth: dict[str, str], tmp_path: Path, parallel: int
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, CODE))
        token = auth["Authorization"].removeprefix("Bearer ")
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            results = list(pool.map(lambda i: _attempt(database, token, i), range(parallel)))
        assert results.count("promo_code_unknown") == 5, results
        assert results.count("promo_code_locked") == parallel - 5, results
        with database.reading() as session:
            assert session.scalars(select(VoucherAttempt.outcome)).all() == ["wrong_promo_code"] * 5
