"""Budgets held exactly when an order is created (promotion/service/budgets.py): never past the budget
under parallel orders on either engine, no single counter row, filled exactly once quiet, freed by an
order's expiry, and the order falls back to the next best campaign."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import PromotionBudgetHold, PromotionBudgetShard
from roamcard.promotion.service import budgets
from roamcard.topup.service.expire import expire_unpaid
from tests.promotion.test_caps import TEN_OFF, _cards, _discounted, _order, _parallel
from tests.promotion.test_topup import TWENTY, _load

DISCOUNT = 2160  # 20 % of 10800


def _books(database: Database) -> tuple[int, int, int]:
    with database.reading() as session:
        used = session.scalar(select(func.coalesce(func.sum(PromotionBudgetShard.used), 0)))
        held = session.scalar(select(func.coalesce(func.sum(PromotionBudgetHold.amount), 0)))
        shards = session.scalar(select(func.count()).select_from(PromotionBudgetShard))
    return int(used or 0), int(held or 0), int(shards or 0)


class TestShares:
    def test_the_shares_add_up_to_the_budget(self) -> None:
        for budget in (1, 7, 8, 9, 2160 * 25, 5_000_003):
            assert sum(budgets.share(budget, s) for s in range(budgets.SHARDS)) == budget


class TestBudget:
    def test_parallel_orders_never_pass_the_budget_and_a_quiet_moment_fills_it_exactly(
        self, database: Database, tmp_path: Path
    ) -> None:
        cards = _cards(database, 90)
        _load(database, tmp_path, ("spring", TWENTY, f"budget = {{ CNY = {DISCOUNT * 25} }}"))
        prices = _parallel(database, cards[:80])
        given = prices.count(8640)
        assert 0 < given <= 25
        assert prices.count(10800) == 80 - given
        used, held, shards = _books(database)
        assert used == held == given * DISCOUNT
        assert shards == budgets.SHARDS  # spread over shards, not one counter row
        # Whatever the race left over is given to the next orders, to the last minor unit.
        rest = [_order(database, card) for card in cards[80:]]
        assert given + rest.count(8640) == 25
        assert _discounted(database) == 25
        assert _books(database)[:2] == (DISCOUNT * 25, DISCOUNT * 25)

    def test_a_short_budget_leaves_the_order_to_the_next_best(
        self, database: Database, tmp_path: Path
    ) -> None:
        cards = _cards(database, 3)
        _load(
            database,
            tmp_path,
            ("spring", TWENTY, f"budget = {{ CNY = {DISCOUNT * 2 - 1} }}"),
            ("ten", TEN_OFF, ""),
        )
        assert [_order(database, card) for card in cards] == [8640, 9800, 9800]
        assert _books(database)[:2] == (DISCOUNT, DISCOUNT)

    def test_an_expired_order_gives_its_budget_back(
        self, database: Database, tmp_path: Path, frozen_clock: clock.FrozenClock
    ) -> None:
        first, second, third = _cards(database, 3)
        _load(database, tmp_path, ("spring", TWENTY, f"budget = {{ CNY = {DISCOUNT} }}"))
        assert _order(database, first) == 8640
        assert _order(database, second) == 10800
        frozen_clock.advance(hours=1)
        with database.transaction() as session:
            expire_unpaid(session)
        assert _order(database, third) == 8640
        assert _books(database)[:2] == (DISCOUNT, DISCOUNT)

    def test_a_budget_split_over_shards_still_covers_a_large_order(
        self, database: Database, tmp_path: Path
    ) -> None:
        # 2160 does not fit in any one eighth of 2200 (275): the order takes it from several shards.
        (card,) = _cards(database, 1)
        _load(database, tmp_path, ("spring", TWENTY, "budget = { CNY = 2200 }"))
        assert _order(database, card) == 8640
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(PromotionBudgetHold)) > 1
