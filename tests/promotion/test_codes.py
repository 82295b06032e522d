"""Single-use promo codes (promotion/service/codes.py): made by `roamcard promotions codes` as a CSV with
only keyed hashes stored; one order per code, also under parallel orders; released by an order's
expiry."""

from __future__ import annotations

import csv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from roamcard.auth.service import SignedInCard
from roamcard.cli import app
from roamcard.db import Database
from roamcard.errors import ValidationFailed
from roamcard.kit import clock
from roamcard.models import PromotionCode, Quote
from roamcard.promotion.service import codes
from roamcard.topup.service.create import create_topup
from roamcard.topup.service.expire import expire_unpaid
from tests.promotion.test_caps import _cards
from tests.promotion.test_quotes import _field_error, _quote, _topup
from tests.promotion.test_topup import TWENTY, _load

SINGLE = "single_use_codes = true"
runner = CliRunner()


def _make(database: Database, tmp_path: Path, count: int, campaign: str = "spring") -> list[str]:
    out = tmp_path / f"codes-{campaign}-{count}.csv"
    result = runner.invoke(
        app, ["promotions", "codes", "--campaign", campaign, "--count", str(count), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="ascii", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["campaign_id", "code"]
    return [code for _, code in rows[1:]]


def _order(database: Database, card: SignedInCard, code: str) -> int | str:
    try:
        with database.tx() as tx:
            order, _ = create_topup(
                tx, card, product_id="data-5gb-30d", currency="CNY", payment_method="sandbox", promo_code=code
            )
            return order.price_amount
    except ValidationFailed as exc:
        return exc.code


class TestGenerate:
    def test_codes_are_unique_unambiguous_and_stored_only_as_keyed_hashes(
        self, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, SINGLE))
        made = _make(database, tmp_path, 300)
        assert len(made) == len(set(made)) == 300
        assert all(len(code) >= 10 and not set(code) & set("0O1IL") for code in made)
        with database.reading() as session:
            stored = session.scalars(select(PromotionCode.code_hash)).all()
        assert len(stored) == 300
        assert not set(made) & set(stored)
        assert not any(code in hashed for code in made for hashed in stored[:20])
        assert set(stored) == {codes.hashes(code)[0] for code in made}

    def test_a_campaign_without_single_use_codes_gets_none_and_no_file(
        self, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        out = tmp_path / "codes.csv"
        result = runner.invoke(
            app, ["promotions", "codes", "--campaign", "spring", "--count", "5", "--out", str(out)]
        )
        assert result.exit_code == 2
        assert not out.exists()
        with database.reading() as session:
            assert session.scalars(select(PromotionCode)).all() == []

    def test_an_existing_file_is_never_overwritten(self, database: Database, tmp_path: Path) -> None:
        _load(database, tmp_path, ("spring", TWENTY, SINGLE))
        out = tmp_path / "codes.csv"
        out.write_text("keep", encoding="ascii")
        result = runner.invoke(
            app, ["promotions", "codes", "--campaign", "spring", "--count", "5", "--out", str(out)]
        )
        assert result.exit_code == 2
        assert out.read_text(encoding="ascii") == "keep"


class TestRedeem:
    def test_a_code_gives_the_offer_once_typed_any_way(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, SINGLE))
        (code,) = _make(database, tmp_path, 1)
        typed = f"{code[:4].lower()}-{code[4:8]} {code[8:]}"
        assert _topup(client, auth, promo_code=typed).json()["price"]["amount"] == 8640
        _field_error(_topup(client, auth, "k2", promo_code=code), "promo_code_used")

    def test_without_a_code_the_campaign_does_not_apply(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, SINGLE))
        _make(database, tmp_path, 3)
        assert _topup(client, auth).json()["price"]["amount"] == 10800
        _field_error(_topup(client, auth, "k2", promo_code="ABCDEFGHJKMN"), "promo_code_unknown")

    def test_a_quote_with_a_code_is_honoured_by_its_order(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, SINGLE))
        (code,) = _make(database, tmp_path, 1)
        quote = _quote(client, auth, promo_code=code).json()
        assert quote["charge"]["amount"] == 8640
        with database.reading() as session:  # the quote refers to the code's row, never the code
            saved = session.get(Quote, quote["id"])
            row = session.scalars(select(PromotionCode)).one()
            assert saved is not None
            assert saved.promo_code_hash == row.code_hash
        assert _topup(client, auth, quote_id=quote["id"]).json()["price"]["amount"] == 8640

    @pytest.mark.parametrize("parallel", [16])
    def test_parallel_orders_with_one_code_give_it_to_exactly_one(
        self, database: Database, tmp_path: Path, parallel: int
    ) -> None:
        cards = _cards(database, parallel)
        _load(database, tmp_path, ("spring", TWENTY, SINGLE))
        (code,) = _make(database, tmp_path, 1)
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            results = list(pool.map(lambda card: _order(database, card, code), cards))
        assert results.count(8640) == 1
        assert results.count("promo_code_used") == parallel - 1

    def test_an_expired_order_releases_its_code(
        self, database: Database, tmp_path: Path, frozen_clock: clock.FrozenClock
    ) -> None:
        first, second, third = _cards(database, 3)
        _load(database, tmp_path, ("spring", TWENTY, SINGLE))
        (code,) = _make(database, tmp_path, 1)
        assert _order(database, first, code) == 8640
        assert _order(database, second, code) == "promo_code_used"
        frozen_clock.advance(hours=1)
        with database.transaction() as session:
            expire_unpaid(session)
        assert _order(database, third, code) == 8640
