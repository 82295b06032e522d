from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update
from typer.testing import CliRunner

from roamcard.card import passwords
from roamcard.card import repository as card_repository
from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import LedgerAccount, Product
from tests.factories import make_card

runner = CliRunner()


class TestCardsCreate:
    def test_prints_card_number_and_eight_digit_password_as_json(self, database: Database) -> None:
        result = runner.invoke(app, ["cards", "create", "--phone", "+8613800138000"])
        assert result.exit_code == 0, result.output
        issued = json.loads(result.stdout)
        assert len(issued["password"]) == 8
        with database.reading() as session:
            card = card_repository.get_by_card_number(session, issued["card_number"])
            assert card is not None
            assert card.phone == "+8613800138000"
            assert passwords.verify_password(card.password_hash, issued["password"])

    def test_chosen_password_and_language(self, database: Database) -> None:
        result = runner.invoke(
            app, ["cards", "create", "--phone", "+14155550100", "--password", "123456", "--language", "en"]
        )
        assert json.loads(result.stdout)["password"] == "123456"

    def test_bad_phone_or_password_exits_2_and_writes_nothing(self, database: Database) -> None:
        for args in (["--phone", "13800138000"], ["--phone", "+8613800138000", "--password", "12ab"]):
            result = runner.invoke(app, ["cards", "create", *args])
            assert result.exit_code == 2
        with database.reading() as session:
            assert session.query(LedgerAccount).count() == 0


class TestDemoAndCatalogue:
    def test_demo_runs_twice(self, database: Database) -> None:
        assert runner.invoke(app, ["demo"]).exit_code == 0
        second = runner.invoke(app, ["demo"])
        assert second.exit_code == 0
        assert "89103900000000000015" in second.stdout

    def test_catalogue_load_reports_field_errors_and_changes_nothing(
        self, database: Database, tmp_path: Path
    ) -> None:
        bad = tmp_path / "catalog.toml"
        bad.write_text(
            '[[products]]\nid = "x1"\nkind = "data"\nname_en = "x"\nname_zh = "x"\nprices = { USD = -1 }\n'
        )
        result = runner.invoke(app, ["catalog", "load", str(bad)])
        assert result.exit_code == 2
        assert "price for USD must be positive" in result.output
        with database.reading() as session:
            assert session.query(Product).count() == 0

    def test_catalogue_reload_deactivates_dropped_products(self, database: Database, tmp_path: Path) -> None:
        runner.invoke(app, ["demo"])
        small = tmp_path / "catalog.toml"
        small.write_text(
            '[[products]]\nid = "balance-10"\nkind = "balance"\nname_en = "$10"\nname_zh = "10 美元"\n'
            'grants = [{ asset = "USD", amount = 1000 }]\nprices = { USD = 1000, CNY = 7300 }\n'
        )
        result = runner.invoke(app, ["catalog", "load", str(small)])
        assert result.exit_code == 0, result.output
        with database.reading() as session:
            active = {p.id: p.prices for p in session.query(Product).filter_by(active=True)}
        assert active == {"balance-10": {"USD": 1000, "CNY": 7300}}


class TestLedgerVerify:
    def test_clean_books_exit_0_and_tampered_books_exit_1(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
        assert runner.invoke(app, ["ledger", "verify"]).exit_code == 0
        with database.transaction() as session:
            session.execute(update(LedgerAccount).where(LedgerAccount.card_id == card.id).values(balance=5))
        result = runner.invoke(app, ["ledger", "verify"])
        assert result.exit_code == 1
        assert "FAILED" in result.output
