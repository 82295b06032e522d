from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import AuditEntry, Dealer, LedgerAccount, StateTransition
from tests.dealer.support import MadeDealer, Till
from tests.voucher.support import assert_books_balance

runner = CliRunner()


def create(*extra: str) -> dict[str, str]:
    args = [
        "dealers",
        "create",
        "--name",
        "Hilltop Mart",
        "--currency",
        "USD",
        "--commission-bps",
        "600",
        *extra,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


class TestDealerCommands:
    def test_create_prints_the_api_secret_once_and_stores_no_secret(
        self, database: Database, client: TestClient
    ) -> None:
        made = create("--timezone", "America/Los_Angeles")
        assert set(made) == {"dealer_id", "api_key_id", "api_secret"}
        with database.reading() as session:
            dealer = session.scalars(select(Dealer)).one()
            account = session.get(LedgerAccount, dealer.float_account_id)
        assert (dealer.public_id, dealer.api_key_id) == (made["dealer_id"], made["api_key_id"])
        assert (dealer.commission_bps, dealer.currency, dealer.timezone) == (
            600,
            "USD",
            "America/Los_Angeles",
        )
        assert made["api_secret"] not in repr({c.name: getattr(dealer, c.name) for c in Dealer.__table__.c})
        assert account is not None
        assert (account.kind, account.asset, account.lower_bound, account.balance) == (
            "dealer_float",
            "USD",
            0,
            0,
        )
        shown = runner.invoke(app, ["dealers", "show", made["dealer_id"]])
        assert shown.exit_code == 0
        assert made["api_secret"] not in shown.output
        # The printed secret is the one that signs.
        till = Till(
            client, MadeDealer(dealer.public_id, dealer.id, dealer.api_key_id, made["api_secret"], account.id)
        )
        assert till.get("/api/v1/pos/statement?date=2026-01-01").status_code == 200

    def test_credit_with_a_reference_is_applied_once(self, database: Database) -> None:
        dealer_id = create()["dealer_id"]
        for _ in range(2):
            result = runner.invoke(
                app, ["dealers", "credit", dealer_id, "--amount", "25000", "--reference", "BANK-1"]
            )
            assert result.exit_code == 0, result.output
        assert "float balance 25000 USD" in result.output
        result = runner.invoke(app, ["dealers", "credit", dealer_id, "--amount", "500"])
        assert "float balance 25500 USD" in result.output
        assert_books_balance(database)

    def test_a_reference_credited_again_with_another_amount_fails_loudly(self, database: Database) -> None:
        dealer_id = create()["dealer_id"]
        args = ["dealers", "credit", dealer_id, "--reference", "BANK-42", "--amount"]
        assert runner.invoke(app, [*args, "25000"]).exit_code == 0
        again = runner.invoke(app, [*args, "30000"])
        assert again.exit_code == 2, again.output
        assert "reference BANK-42 was already credited" in again.output
        assert "float balance" not in again.output
        with database.reading() as session:
            dealer = session.scalars(select(Dealer).where(Dealer.public_id == dealer_id)).one()
            assert session.get(LedgerAccount, dealer.float_account_id).balance == 25000  # type: ignore[union-attr]
        assert_books_balance(database)

    def test_suspend_and_resume_are_recorded(self, database: Database) -> None:
        dealer_id = create()["dealer_id"]
        assert runner.invoke(app, ["dealers", "suspend", dealer_id, "--by", "carol"]).exit_code == 0
        assert "already" in runner.invoke(app, ["dealers", "suspend", dealer_id]).output
        assert runner.invoke(app, ["dealers", "resume", dealer_id, "--by", "carol"]).exit_code == 0
        with database.reading() as session:
            rows = session.scalars(
                select(StateTransition).where(StateTransition.entity_type == "dealer")
            ).all()
        assert [(r.from_status, r.to_status, r.reason) for r in rows] == [
            ("active", "suspended", "by cli:carol"),
            ("suspended", "active", "by cli:carol"),
        ]
        assert {r.entity_id for r in rows} == {dealer_id}  # the history names the dealer by its public id
        with database.reading() as session:
            audited = session.scalars(select(AuditEntry).where(AuditEntry.target_id == dealer_id)).all()
        assert [(a.action, a.staff_email, a.before, a.after) for a in audited] == [
            ("dealer.suspended", "cli:carol", {"status": "active"}, {"status": "suspended"}),
            ("dealer.resumed", "cli:carol", {"status": "suspended"}, {"status": "active"}),
        ]  # a repeated suspend changed nothing and is not audited

    def test_bad_input_exits_2(self, database: Database) -> None:
        bad = [
            ["dealers", "create", "--name", "X", "--currency", "EUR", "--commission-bps", "100"],
            ["dealers", "create", "--name", "X", "--currency", "USD", "--commission-bps", "9000"],
            [
                "dealers",
                "create",
                "--name",
                "X",
                "--currency",
                "USD",
                "--commission-bps",
                "1",
                "--timezone",
                "Mars/Base",
            ],
            ["dealers", "credit", "dlr_nobody", "--amount", "100"],
            ["dealers", "suspend", "dlr_nobody"],
        ]
        for args in bad:
            assert runner.invoke(app, args).exit_code == 2, args
        with database.reading() as session:
            assert session.scalars(select(Dealer)).all() == []
        dealer_id = create()["dealer_id"]
        assert runner.invoke(app, ["dealers", "credit", dealer_id, "--amount", "0"]).exit_code == 2
