from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.dealer.service import manage
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, LedgerTransfer
from tests.dealer.support import MadeDealer, Till, float_balance, make_dealer
from tests.factories import make_card, make_catalog
from tests.voucher.support import make_batch


def ledger_sums(database: Database, dealer: MadeDealer, start: datetime, end: datetime) -> tuple[int, int]:
    """(credited, debited) on the float, straight from the transfers."""
    window = (LedgerTransfer.created_at >= start, LedgerTransfer.created_at < end)
    with database.reading() as session:
        credited = session.scalar(
            select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
                LedgerTransfer.credit_account_id == dealer.float_account_id, *window
            )
        )
        debited = session.scalar(
            select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
                LedgerTransfer.debit_account_id == dealer.float_account_id, *window
            )
        )
    return int(credited or 0), int(debited or 0)


def credit(database: Database, dealer: MadeDealer, amount: int, reference: str) -> None:
    with database.transaction() as session:
        manage.credit_float(
            session, manage.get_dealer(session, dealer.public_id), amount, reference=reference
        )


class TestDailyStatement:
    def test_totals_match_the_ledger_day_by_day_in_the_dealers_time_zone(
        self, database: Database, client: TestClient, frozen_clock: FrozenClock
    ) -> None:
        # 2026-03-01 23:30 in Shanghai is 15:30 UTC: the day boundary is Shanghai's midnight, not UTC's.
        frozen_clock.current = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
        with database.transaction() as session:
            make_catalog(session)
            card: Card = make_card(session)
        dealer = make_dealer(database, commission_bps=500, float_amount=50_000, timezone="Asia/Shanghai")
        batch = make_batch(database, count=3, face_value=2000, activate=False)
        till = Till(client, dealer)
        topup = {"card_number": card.card_number, "product_id": "balance-10"}

        frozen_clock.current = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)  # 1 March, 23:30 local
        assert till.post("/api/v1/pos/topups", {"external_id": "d1-a", **topup}).status_code == 201
        assert (
            till.post(
                "/api/v1/pos/vouchers/sell", {"external_id": "d1-b", "serial": batch.serials[0]}
            ).status_code
            == 201
        )
        frozen_clock.current = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 2 March, 00:30 local
        assert till.post("/api/v1/pos/topups", {"external_id": "d2-a", **topup}).status_code == 201
        credit(database, dealer, 7_000, "bank-0302")
        assert (
            till.post(
                "/api/v1/pos/vouchers/sell", {"external_id": "d2-b", "serial": batch.serials[1]}
            ).status_code
            == 201
        )
        assert (
            till.post(
                "/api/v1/pos/topups", {"external_id": "d2-c", **topup, "product_id": "balance-30"}
            ).status_code
            == 201
        )

        day1 = till.get("/api/v1/pos/statement?date=2026-03-01").json()
        day2 = till.get("/api/v1/pos/statement?date=2026-03-02").json()

        # Day 1: opening deposit, a $10 top-up (net 950) and a $20 card (net 1900).
        assert (day1["timezone"], day1["starts_at"]) == ("Asia/Shanghai", "2026-02-28T16:00:00Z")
        assert [line["external_id"] for line in day1["lines"]] == ["d1-a", "d1-b"]
        assert day1["topups"] == {
            "count": 1,
            "face_value": {"amount": 1000, "currency": "USD"},
            "commission": {"amount": 50, "currency": "USD"},
            "net": {"amount": 950, "currency": "USD"},
        }
        assert day1["vouchers"]["net"] == {"amount": 1900, "currency": "USD"}
        # Day 2: two top-ups (950 + 2850), one card (1900), a 7000 credit.
        assert [line["external_id"] for line in day2["lines"]] == ["d2-a", "d2-b", "d2-c"]
        assert day2["topups"]["count"] == 2
        assert day2["topups"]["net"]["amount"] == 950 + 2850
        assert day2["vouchers"]["net"]["amount"] == 1900
        for day in (day1, day2):
            start = datetime.fromisoformat(day["starts_at"])
            end = datetime.fromisoformat(day["ends_at"])
            credited, debited = ledger_sums(database, dealer, start, end)
            # The statement's ledger figures are the transfers' own sums...
            assert (day["credits"]["amount"], day["debits"]["amount"]) == (credited, debited)
            # ...the sales explain every debit of the float...
            assert day["topups"]["net"]["amount"] + day["vouchers"]["net"]["amount"] == debited
            assert sum(line["net"]["amount"] for line in day["lines"]) == debited
            # ...and the balances roll forward.
            closing = day["opening_balance"]["amount"] + credited - debited
            assert day["closing_balance"]["amount"] == closing
        assert day1["credits"]["amount"] == 50_000
        assert day2["opening_balance"] == day1["closing_balance"]
        assert (
            day2["closing_balance"]["amount"]
            == float_balance(database, dealer)
            == 50_000 - 2850 + 7000 - 3800 - 1900
        )

    def test_an_empty_day_and_a_bad_date(self, database: Database, client: TestClient) -> None:
        dealer = make_dealer(database, float_amount=0)
        till = Till(client, dealer)
        empty = till.get("/api/v1/pos/statement?date=2020-01-01")
        assert empty.status_code == 200
        assert empty.json()["lines"] == []
        assert empty.json()["closing_balance"] == {"amount": 0, "currency": "USD"}
        bad = till.get("/api/v1/pos/statement?date=yesterday")
        assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "date")
        missing = till.get("/api/v1/pos/statement")
        assert missing.status_code == 422
