"""GET /api/v1/partner/statement?date=: the day in the partner's time zone, every top-up with its amounts
and commission, the float's opening and closing balance from the ledger; JSON, or CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.db import Database
from roamcard.kit.clock import FrozenClock
from roamcard.models import LedgerTransfer
from roamcard.partner.service import manage
from tests.partner.support import (
    TOPUPS,
    MadePartner,
    Platform,
    float_balance,
    make_cards,
    make_partner,
    topup_body,
)

PATH = "/api/v1/partner/statement"


def debited(database: Database, partner: MadePartner, start: datetime, end: datetime) -> int:
    with database.reading() as session:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
                    LedgerTransfer.debit_account_id == partner.float_account_id,
                    LedgerTransfer.created_at >= start,
                    LedgerTransfer.created_at < end,
                )
            )
            or 0
        )


class TestStatement:
    def test_totals_match_the_ledger_in_the_partners_time_zone(
        self, client: TestClient, database: Database, frozen_clock: FrozenClock
    ) -> None:
        frozen_clock.current = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, 1 March
        card = make_cards(database)
        partner = make_partner(database, commission_bps=500, float_amount=30_000, timezone="Asia/Shanghai")
        platform = Platform(client, partner)
        assert platform.post(TOPUPS, topup_body(card, "d1-a")).status_code == 201
        frozen_clock.current = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)  # 00:30 on 2 March in Shanghai
        assert platform.post(TOPUPS, topup_body(card, "d2-a")).status_code == 201
        assert platform.post(TOPUPS, topup_body(card, "d2-b", product_id="balance-50")).status_code == 201
        with database.transaction() as session:
            manage.credit_float(
                session, manage.get_partner(session, partner.public_id), 5_000, reference="wire-2"
            )
        frozen_clock.current = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

        day2 = platform.get(f"{PATH}?date=2026-03-02")
        assert day2.status_code == 200, day2.text
        body = day2.json()
        assert [line["external_id"] for line in body["lines"]] == ["d2-a", "d2-b"]
        assert body["totals"]["count"] == 2
        assert body["totals"]["price"]["amount"] == 1000 + 5000
        assert body["totals"]["commission"]["amount"] == 50 + 250
        assert body["totals"]["partner_cost"]["amount"] == 950 + 4750
        start = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
        end = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
        assert body["debits"]["amount"] == debited(database, partner, start, end) == 950 + 4750
        assert body["credits"]["amount"] == 5_000
        assert [(m["kind"], m["amount"]["amount"], m["reference"]) for m in body["float_movements"]] == [
            ("credit", 5_000, "wire-2")
        ]
        assert body["opening_balance"]["amount"] == 30_000 - 950
        assert body["closing_balance"]["amount"] == float_balance(database, partner)
        assert body["closing_balance"]["amount"] == 30_000 - 950 - 5700 + 5_000
        day1 = platform.get(f"{PATH}?date=2026-03-01").json()
        assert [line["external_id"] for line in day1["lines"]] == ["d1-a"]
        assert day1["closing_balance"] == body["opening_balance"]

    def test_the_statement_as_csv(self, client: TestClient, database: Database) -> None:
        card = make_cards(database)
        partner = make_partner(database, commission_bps=500, timezone="UTC")
        platform = Platform(client, partner)
        platform.post(TOPUPS, topup_body(card, "csv-1"))
        today = datetime.now(UTC).date().isoformat()
        response = platform.get(f"{PATH}?date={today}", accept="text/csv")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0][:3] == ["at", "id", "external_id"]
        assert rows[1][2:8] == ["csv-1", "fulfilled", "balance-10", "1000", "950", "50"]
        assert [rows[2][0], *rows[2][5:8]] == ["total", "1000", "950", "50"]
        assert rows[3][2:6] == ["opening-deposit", "float_credit", "", "100000"]  # paid today
        assert [row[0] for row in rows[4:]] == ["opening_balance", "credits", "debits", "closing_balance"]
        with database.transaction() as session:
            manage.credit_float(
                session, manage.get_partner(session, partner.public_id), 700, reference="wire-9"
            )
        rows = list(csv.reader(io.StringIO(platform.get(f"{PATH}?date={today}", accept="text/csv").text)))
        assert rows[4][2:6] == ["wire-9", "float_credit", "", "700"]

    def test_a_bad_date_is_a_422(self, client: TestClient, database: Database) -> None:
        partner = make_partner(database)
        assert Platform(client, partner).get(f"{PATH}?date=yesterday").status_code == 422
