from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import AuditEntry, LedgerAccount, Partner, PartnerKey, SandboxCard
from tests.partner.support import TOPUPS, MadePartner, Platform, make_cards, topup_body
from tests.voucher.support import assert_books_balance

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def create(*extra: str) -> dict[str, str]:
    out = invoke(
        "partners", "create", "--name", "Alipay mini-program", "--currency", "USD",
        "--callback-url", "https://partner.example/cb", *extra,
    )  # fmt: skip
    return dict(json.loads(out))


def made(database: Database, printed: dict[str, str]) -> MadePartner:
    with database.reading() as session:
        partner = session.scalars(select(Partner).where(Partner.public_id == printed["partner_id"])).one()
        return MadePartner(
            partner.public_id,
            partner.id,
            printed["api_key_id"],
            printed["api_secret"],
            partner.float_account_id,
        )


class TestPartnerCommands:
    def test_create_prints_the_secret_once_and_stores_it_only_encrypted(self, database: Database) -> None:
        make_cards(database)  # the catalogue
        printed = create(
            "--mode", "live", "--timezone", "Asia/Shanghai", "--credit-limit", "5000",
            "--commission-bps", "300", "--allow-ip", "203.0.113.0/24", "--products", "balance-10",
        )  # fmt: skip
        assert set(printed) == {"partner_id", "api_key_id", "api_secret"}
        with database.reading() as session:
            partner = session.scalars(select(Partner)).one()
            key = session.scalars(select(PartnerKey)).one()
            account = session.get(LedgerAccount, partner.float_account_id)
            assert account is not None
            assert account.lower_bound == -5000
        assert (partner.mode, partner.commission_bps, partner.allowed_cidrs) == (
            "live",
            300,
            ["203.0.113.0/24"],
        )
        assert partner.product_ids == ["balance-10"]
        assert printed["api_secret"] not in key.api_secret_encrypted
        shown = invoke("partners", "show", printed["partner_id"])
        assert printed["api_secret"] not in shown
        assert json.loads(shown)["keys"][0]["api_key_id"] == printed["api_key_id"]

    def test_a_bad_partner_is_refused_with_a_message(self, database: Database) -> None:
        result = runner.invoke(
            app,
            ["partners", "create", "--name", "X", "--currency", "USD", "--callback-url", "http://10.0.0.1/cb",
             "--mode", "live"],
        )  # fmt: skip
        assert result.exit_code == 2
        assert "https" in result.output
        with database.reading() as session:
            assert session.scalars(select(Partner)).all() == []

    def test_credit_rotate_suspend_resume(self, client: TestClient, database: Database) -> None:
        printed = create("--mode", "live")
        partner_id = printed["partner_id"]
        assert "float balance 3000 USD" in invoke("partners", "credit", partner_id, "--amount", "3000")
        invoke("partners", "credit", partner_id, "--amount", "2000", "--reference", "wire-1")
        invoke("partners", "credit", partner_id, "--amount", "2000", "--reference", "wire-1")  # no-op
        assert json.loads(invoke("partners", "show", partner_id))["float_balance"] == 5000
        card = make_cards(database)
        rotated = json.loads(invoke("partners", "rotate-key", partner_id, "--overlap-hours", "1"))
        assert rotated["api_key_id"] != printed["api_key_id"]
        new = Platform(client, made(database, {**printed, **rotated}))
        assert new.post(TOPUPS, topup_body(card)).status_code == 201
        invoke("partners", "suspend", partner_id, "--by", "ops@example.com")
        assert new.post(TOPUPS, topup_body(card, "second")).status_code == 403
        invoke("partners", "resume", partner_id, "--by", "ops@example.com")
        assert new.post(TOPUPS, topup_body(card, "second")).status_code == 201
        assert_books_balance(database)
        with database.reading() as session:
            audited = session.scalars(select(AuditEntry).where(AuditEntry.target_id == partner_id)).all()
        assert [(a.action, a.staff_email) for a in audited] == [
            ("partner.suspended", "cli:ops@example.com"),
            ("partner.resumed", "cli:ops@example.com"),
        ]

    def test_cards_create_sandbox_makes_a_sandbox_card(self, database: Database) -> None:
        printed = json.loads(invoke("cards", "create", "--phone", "+8613800138000", "--sandbox"))
        assert printed["card_number"]
        with database.reading() as session:
            assert len(session.scalars(select(SandboxCard)).all()) == 1
