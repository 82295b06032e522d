"""`roamcard cdr import FILE.csv`: offline records rated like online charging, idempotent by record_id,
rejected rows reported (exit 1), a shortfall charged as far as the card can pay, usage in the card's API."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from roamcard.charging.service import cdr
from roamcard.cli import app
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.ledger.assets import Asset
from roamcard.models import CdrRecord, ChargingGrant, LedgerTransfer
from tests.charging.helpers import MIB, available, credit_balance, give_pack, subscriber, suspend, verify_ok
from tests.charging.test_usage import _token

runner = CliRunner()
HEADER = "record_id,imsi,started_at,kind,units,called,mcc,mnc"


def _when(minutes_ago: int = 5) -> str:
    return (clock.now() - timedelta(minutes=minutes_ago)).isoformat()


def _csv(tmp_path: Path, rows: list[str], name: str = "cdrs.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _import(path: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["cdr", "import", str(path)])
    return result.exit_code, result.output


def _report(database: Database, rows: list[str]) -> cdr.ImportReport:
    return cdr.import_rows(database, cdr.read_rows(io.StringIO("\n".join([HEADER, *rows]) + "\n")))


def _counts(database: Database) -> tuple[int, int, int]:
    with database.reading() as session:
        return (
            session.scalar(select(func.count()).select_from(CdrRecord)) or 0,
            session.scalar(select(func.count()).select_from(ChargingGrant)) or 0,
            session.scalar(select(func.count()).select_from(LedgerTransfer)) or 0,
        )


class TestRating:
    def test_packs_covering_the_country_pay_first_then_the_balance_at_the_zone_rate(
        self, database: Database, tmp_path: Path
    ):
        sub = subscriber(database)
        give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        credit_balance(database, sub.card_id, 1000, "seed")
        path = _csv(
            tmp_path,
            [
                f"d1,{sub.imsi},{_when()},data,{15 * MIB},,310,260",  # US: 10 MiB pack, 5 MiB x 2 = 10
                f"d2,{sub.imsi},{_when()},data,{MIB + 1},,208,01",  # FR: the pack covers North America only
                f"v1,{sub.imsi},{_when()},voice,61,tel:+12125550100,310,260",  # 2 started minutes x 25
                f"s1,{sub.imsi},{_when()},sms,2,+33612345678,208,01",  # 2 x 12
            ],
        )
        code, output = _import(path)
        assert code == 0, output
        assert "rated 4 records" in output
        # 10 + ceil((MiB + 1) * 3 / MiB) = 4 + 50 + 24
        assert available(database, sub.card_id) == {"USD": 1000 - 10 - 4 - 50 - 24, "DATA_BYTES": 0}
        with database.reading() as session:
            slices = session.execute(
                select(ChargingGrant.source, ChargingGrant.kind, ChargingGrant.units_used).order_by(
                    ChargingGrant.id
                )
            ).all()
            charged = dict(session.execute(select(CdrRecord.record_id, CdrRecord.charged_amount)).all())
        assert [tuple(row) for row in slices] == [
            ("pack", "data", 10 * MIB),
            ("balance", "data", 5 * MIB),
            ("balance", "data", MIB + 1),
            ("balance", "voice", 61),
            ("balance", "sms", 2),
        ]
        assert charged == {"d1": 10, "d2": 4, "v1": 50, "s1": 24}
        verify_ok(database)

    def test_the_pack_that_expires_first_is_used_first(self, database: Database):
        sub = subscriber(database)
        later = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id=None, days=30, key="a"
        )
        sooner = give_pack(database, sub.card_id, Asset.DATA_BYTES, 4 * MIB, product_id=None, days=3, key="b")
        report = _report(database, [f"r1,{sub.imsi},{_when()},data,{6 * MIB},,440,10"])
        assert report.rated == 1
        assert not report.rejected
        with database.reading() as session:
            used = session.execute(
                select(ChargingGrant.allowance_id, ChargingGrant.units_used).order_by(ChargingGrant.id)
            ).all()
        assert [tuple(row) for row in used] == [(sooner, 4 * MIB), (later, 2 * MIB)]
        verify_ok(database)

    def test_what_the_card_cannot_pay_is_reported_and_the_balance_never_goes_negative(
        self, database: Database, tmp_path: Path
    ):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 30, "seed")
        code, output = _import(_csv(tmp_path, [f"v1,{sub.imsi},{_when()},voice,300,+12125550100,310,260"]))
        assert code == 0, output
        assert "could not be paid in full" in output
        assert available(database, sub.card_id)["USD"] == 5  # one minute at 25 paid, the rest not charged
        with database.reading() as session:
            record = session.scalars(select(CdrRecord)).one()
        assert (record.charged_amount, record.units_unpaid) == (25, 240)
        verify_ok(database)


class TestEmergency:
    def test_emergency_calls_are_zero_rated_at_zero_balance_and_when_suspended(self, database: Database):
        sub = subscriber(database)
        suspend(database, sub.card_id)
        report = _report(
            database,
            [
                f"e1,{sub.imsi},{_when()},voice,120,tel:110,440,10",  # Japan's police
                f"e2,{sub.imsi},{_when()},voice,60,911,208,01",  # 911 anywhere
                f"n1,{sub.imsi},{_when()},voice,60,tel:+1911,310,260",  # a country code: not an emergency
            ],
        )
        assert (report.rated, report.emergency, report.short) == (3, 2, 1)
        with database.reading() as session:
            slices = session.execute(
                select(ChargingGrant.source, ChargingGrant.units_used, ChargingGrant.charged_amount)
            ).all()
            records = dict(session.execute(select(CdrRecord.record_id, CdrRecord.emergency)).all())
        assert sorted(tuple(row) for row in slices) == [("emergency", 60, 0), ("emergency", 120, 0)]
        assert records == {"e1": True, "e2": True, "n1": False}
        verify_ok(database)


class TestIdempotency:
    def test_importing_the_same_file_again_changes_nothing(self, database: Database, tmp_path: Path):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        path = _csv(
            tmp_path,
            [
                f"a,{sub.imsi},{_when()},data,{3 * MIB},,310,260",
                f"b,{sub.imsi},{_when()},sms,1,+12125550100,310,260",
            ],
        )
        assert _import(path)[0] == 0
        before, counts = available(database, sub.card_id), _counts(database)
        code, output = _import(path)
        assert code == 0, output
        assert "rated 0 records" in output
        assert "2 already imported" in output
        assert available(database, sub.card_id) == before
        assert _counts(database) == counts
        verify_ok(database)

    def test_a_reused_record_id_with_other_fields_is_rejected_and_changes_nothing(
        self, database: Database, tmp_path: Path
    ):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        when = _when()
        assert _import(_csv(tmp_path, [f"a,{sub.imsi},{when},sms,1,,310,260"]))[0] == 0
        before, counts = available(database, sub.card_id), _counts(database)
        code, output = _import(_csv(tmp_path, [f"a,{sub.imsi},{when},sms,5,,310,260"], name="again.csv"))
        assert code == 1
        assert "1 rejected rows" in output
        assert "record_id" in output
        assert available(database, sub.card_id) == before
        assert _counts(database) == counts
        report = _report(database, [f"a,{sub.imsi},{when},sms,5,,310,260"])
        assert [(r.line, r.field, r.record_id) for r in report.rejected] == [(2, "record_id", "a")]


class TestRejections:
    def test_bad_rows_are_reported_with_row_and_field_and_the_good_ones_imported(
        self, database: Database, tmp_path: Path
    ):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        rows = [
            f"ok,{sub.imsi},{_when()},sms,1,,310,260",
            f"r2,999990000000001,{_when()},sms,1,,310,260",
            f"r3,{sub.imsi},{_when()},fax,1,,310,260",
            f"r4,{sub.imsi},2026-12-02T10:00:00,sms,1,,310,260",
            f"r5,{sub.imsi},{_when()},data,-5,,310,260",
            f"r6,{sub.imsi},{_when()},sms,1,,31,260",
            f"r7,{sub.imsi},{_when()},sms,1,,310,2x",
            f"r8,{sub.imsi},yesterday,sms,1,,310,260",
            f"r9,{sub.imsi},{_when()},sms,1.5,,310,260",
        ]
        report = _report(database, rows)
        assert report.rated == 1
        assert [(r.line, r.field, r.reason) for r in report.rejected] == [
            (3, "imsi", "unknown IMSI"),
            (4, "kind", "not one of voice, call, sms, data"),
            (5, "started_at", "timestamp without a UTC offset"),
            (6, "units", "negative units"),
            (7, "mcc", "not an MCC (3 digits)"),
            (8, "mnc", "not an MNC (2 or 3 digits)"),
            (9, "started_at", "not an ISO 8601 timestamp"),
            (10, "units", "not a whole number"),
        ]
        assert _counts(database)[0] == 1
        verify_ok(database)

    def test_the_command_exits_1_and_lists_the_rejected_rows(self, database: Database, tmp_path: Path):
        sub = subscriber(database)
        path = _csv(
            tmp_path, [f"ok,{sub.imsi},{_when()},sms,0,,310,260", f"bad,{sub.imsi},{_when()},fax,1,,310,260"]
        )
        code, output = _import(path)
        assert code == 1
        assert "1 rejected rows" in output
        assert "kind" in output
        assert "rated 1 records" in output

    def test_a_file_without_the_columns_is_refused(self, database: Database, tmp_path: Path):
        path = tmp_path / "wrong.csv"
        path.write_text("id,imsi\n1,2\n", encoding="utf-8")
        code, output = _import(path)
        assert code == 1
        assert "missing column" in output
        assert _counts(database)[0] == 0


class TestUsage:
    def test_rated_records_show_in_the_card_usage_like_online_usage(
        self, database: Database, client: TestClient
    ):
        sub = subscriber(database)
        pack = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        credit_balance(database, sub.card_id, 1000, "seed")
        report = _report(
            database,
            [
                f"d1,{sub.imsi},{_when()},data,{15 * MIB},,310,260",
                f"v1,{sub.imsi},{_when()},voice,70,+33612345678,208,01",
                f"e1,{sub.imsi},{_when()},voice,30,112,208,01",
            ],
        )
        assert report.rated == 3
        token = _token(client, database, sub.card_id)
        response = client.get("/api/v1/card/usage", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        days = {d["kind"]: d for d in response.json()["days"]}
        assert days["data"]["units"] == 15 * MIB
        assert days["data"]["paid_by"] == [
            {"source": "pack", "units": 10 * MIB, "allowance_id": pack, "product_id": "data-1gb-7d"},
            {"source": "balance", "units": 5 * MIB, "amount": {"amount": 10, "currency": "USD"}},
        ]
        assert days["voice"]["units"] == 100
        assert days["voice"]["paid_by"] == [
            {"source": "balance", "units": 70, "amount": {"amount": 60, "currency": "USD"}},
            {"source": "emergency", "units": 30},
        ]


class TestParallelImport:
    def test_several_workers_rate_like_one_and_still_reject_a_reused_record_id(self, database: Database):
        """On PostgreSQL the records are split by IMSI over threads (SQLite: one thread)."""
        subs = [subscriber(database, catalog=i == 0) for i in range(3)]
        for i, sub in enumerate(subs):
            credit_balance(database, sub.card_id, 1000, f"seed-{i}")
        rows = [f"r{i},{subs[i % 3].imsi},{_when()},sms,1,,310,260" for i in range(30)]
        rows.append(f"r0,{subs[1].imsi},{_when()},sms,1,,310,260")  # r0 was the first card's
        report = cdr.import_rows(
            database, cdr.read_rows(io.StringIO("\n".join([HEADER, *rows]) + "\n")), batch_size=4, workers=3
        )
        assert report.rated == 30
        assert [(r.line, r.field) for r in report.rejected] == [(32, "record_id")]
        assert [available(database, sub.card_id)["USD"] for sub in subs] == [1000 - 10 * 10] * 3
        again = _report(database, rows[:30])
        assert (again.rated, again.unchanged) == (0, 30)
        verify_ok(database)
