"""`roamcard partners update`: a partner's callback URL, credit limit, IP allow-list and commission change
after creation, validated as at creation (live: https, no private address), audited, and the API follows
the change at once; a credit limit the partner already owes more than is refused."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import AuditEntry, Card, LedgerAccount, Partner
from tests.partner.support import (
    TOPUPS,
    MadePartner,
    Platform,
    float_balance,
    make_cards,
    make_partner,
    topup_body,
)
from tests.voucher.support import assert_books_balance, count_rows

runner = CliRunner()


@pytest.fixture
def card(database: Database) -> Card:
    return make_cards(database)


def update(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["partners", "update", *args])
    return result.exit_code, " ".join(result.output.split())  # Rich wraps long messages


def partner_row(database: Database, partner: MadePartner) -> Partner:
    with database.reading() as session:
        found = session.scalars(select(Partner).where(Partner.public_id == partner.public_id)).one()
        session.expunge(found)
        return found


def audits(database: Database) -> list[AuditEntry]:
    with database.reading() as session:
        found = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "partner.updated")))
        for entry in found:
            session.expunge(entry)
        return found


def test_every_field_changes_is_audited_and_printed(database: Database) -> None:
    partner = make_partner(database, commission_bps=500)
    code, out = update(
        partner.public_id,
        "--callback-url", "https://new.partner.example/cb",
        "--credit-limit", "5000",
        "--allow-ip", "203.0.113.0/24", "--allow-ip", "198.51.100.7",
        "--commission-bps", "300",
        "--reason", "contract amendment 2",
        "--by", "ops@example.com",
    )  # fmt: skip
    assert code == 0, out
    printed = json.loads(out)  # one line of JSON: unchanged by the whitespace folding
    assert printed["changed"]["commission_bps"] == {"before": 500, "after": 300}
    assert printed["changed"]["credit_limit"] == {"before": 0, "after": 5000}
    row = partner_row(database, partner)
    assert row.callback_url == "https://new.partner.example/cb"
    assert (row.credit_limit_amount, row.commission_bps) == (5000, 300)
    assert list(row.allowed_cidrs) == ["203.0.113.0/24", "198.51.100.7/32"]
    with database.reading() as session:
        account = session.get(LedgerAccount, partner.float_account_id)
        assert account is not None
        assert account.lower_bound == -5000
    [entry] = audits(database)
    assert (entry.staff_email, entry.staff_role, entry.target_id) == (
        "cli:ops@example.com",
        "operator",
        partner.public_id,
    )
    assert entry.reason == "contract amendment 2"
    assert entry.before == {
        "callback_url": "https://partner.example/roamcard/callbacks",
        "credit_limit": 0,
        "allowed_cidrs": [],
        "commission_bps": 500,
    }
    assert entry.after is not None
    assert entry.after["commission_bps"] == 300
    # Clearing the allow-list; nothing else changes, and only that is audited.
    code, out = update(partner.public_id, "--clear-allow-ips")
    assert code == 0, out
    assert partner_row(database, partner).allowed_cidrs == []
    assert audits(database)[-1].before == {"allowed_cidrs": ["203.0.113.0/24", "198.51.100.7/32"]}
    # The same values again: nothing changed, nothing audited.
    assert update(partner.public_id, "--commission-bps", "300")[0] == 0
    assert len(audits(database)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--callback-url", "http://partner.example/cb"], "https"),
        (["--callback-url", "https://10.0.0.7/cb"], "private"),
        (["--callback-url", "https://localhost/cb"], "local"),
        (["--callback-url", "ftp://partner.example/cb"], "http(s)"),
        (["--commission-bps", "5001"], "commission"),
        (["--credit-limit", "-1"], "credit-limit"),
        (["--allow-ip", "not-an-address"], "allow-ip"),
        (["--allow-ip", "10.0.0.0/8", "--clear-allow-ips"], "not both"),
    ],
)
def test_the_same_validation_as_create_and_nothing_changes(
    database: Database, args: list[str], message: str
) -> None:
    partner = make_partner(database, mode="live")
    before = partner_row(database, partner).describe()
    code, out = update(partner.public_id, *args)
    assert code == 2
    assert message in out
    assert partner_row(database, partner).describe() == before
    assert audits(database) == []


def test_a_sandbox_partner_may_point_at_a_local_receiver(database: Database) -> None:
    partner = make_partner(database, mode="sandbox", callback_url="http://127.0.0.1:9/cb")
    code, out = update(partner.public_id, "--callback-url", "http://127.0.0.1:8080/cb")
    assert code == 0, out
    assert partner_row(database, partner).callback_url == "http://127.0.0.1:8080/cb"


def test_an_unknown_partner_is_refused(database: Database) -> None:
    code, out = update("ptn_nosuchpartner", "--commission-bps", "100")
    assert code == 2
    assert "no partner" in out


def test_the_api_follows_a_new_credit_limit_and_allow_list(
    client: TestClient, database: Database, card: Card
) -> None:
    partner = make_partner(database, commission_bps=0, float_amount=1000)
    platform = Platform(client, partner)
    assert platform.post(TOPUPS, topup_body(card, "one")).status_code == 201  # float 1000 -> 0
    refused = platform.post(TOPUPS, topup_body(card, "two"))
    assert (refused.status_code, refused.json()["code"]) == (402, "insufficient_float")
    assert update(partner.public_id, "--credit-limit", "1000")[0] == 0
    assert platform.post(TOPUPS, topup_body(card, "two")).status_code == 201  # float 0 -> -1000
    assert float_balance(database, partner) == -1000
    # The partner owes 1000: a limit below that is refused, and the bound stays where it was.
    code, out = update(partner.public_id, "--credit-limit", "500")
    assert code == 2
    assert "credit the float first" in out
    assert partner_row(database, partner).credit_limit_amount == 1000
    assert update(partner.public_id, "--allow-ip", "203.0.113.0/24")[0] == 0
    outside = platform.post(TOPUPS, topup_body(card, "three"))
    assert (outside.status_code, outside.json()["code"]) == (403, "partner_ip_not_allowed")
    assert count_rows(database, AuditEntry, AuditEntry.action == "partner.updated") == 2
    assert_books_balance(database)
