"""Dealers in the back office: finance and admin see them; an admin creates one (key shown once),
suspends, resumes and rotates its key; finance credits its float (a ledger transfer, once per reference).
Every action audited; the ledger verifies clean after each."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from roamcard.cli import app as cli_app
from roamcard.db import Database
from roamcard.models import Card, Dealer
from tests.backoffice.console import audit_actions, audit_entries, csrf, make_staff, sign_in
from tests.dealer.support import MadeDealer, Till, dealer_row, float_balance, make_dealer
from tests.factories import make_card, make_catalog

ROLES = ("agent", "supervisor", "finance", "admin")
VIEWERS = {"finance", "admin"}
EN = {"Accept-Language": "en"}
PATH = "/api/v1/pos/topups"


@pytest.fixture
def dealer(database: Database) -> MadeDealer:
    return make_dealer(database, float_amount=10_000)


def _post(client: TestClient, path: str, token: str | None = None, **fields: str) -> object:
    data = {
        "reason": "signed contract",
        **fields,
        "csrf_token": token or csrf(client.get("/admin", headers=EN).text),
    }
    return client.post(path, data=data, headers=EN, follow_redirects=False)


def _finance_token(client: TestClient) -> str:
    return csrf(client.get("/admin/dealers", headers=EN).text)


def ledger_is_clean() -> None:
    result = CliRunner().invoke(cli_app, ["ledger", "verify"])
    assert result.exit_code == 0, result.output


def _dealer_audits(database: Database) -> list[str]:
    return [a for a in audit_actions(database) if a.startswith("dealer.")]


def _sell(client: TestClient, database: Database, dealer: MadeDealer, secret: str, key_id: str) -> int:
    with database.transaction() as session:
        make_catalog(session)
        card: Card = make_card(session)
    body = json.dumps(
        {"external_id": f"till-{key_id}", "card_number": card.card_number, "product_id": "balance-10"},
        separators=(",", ":"),
    ).encode()
    signer = Till(client, MadeDealer(dealer.public_id, dealer.id, key_id, secret, dealer.float_account_id))
    headers = signer.headers("POST", PATH, body)
    return client.post(
        PATH, content=body, headers={**headers, "Content-Type": "application/json"}
    ).status_code


@pytest.mark.parametrize("role", ROLES)
def test_who_sees_and_who_acts(role: str, client: TestClient, database: Database, dealer: MadeDealer) -> None:
    sign_in(client, *make_staff(database, role))
    listing = client.get("/admin/dealers", headers=EN)
    assert listing.status_code == (200 if role in VIEWERS else 403)
    assert client.get(f"/admin/dealers/{dealer.public_id}", headers=EN).status_code == listing.status_code
    if role in VIEWERS:
        assert dealer.public_id in listing.text
        assert "$100.00" in listing.text
    token = csrf(client.get("/admin/refunds" if role == "finance" else "/admin", headers=EN).text)
    before = _dealer_audits(database)
    statuses = {
        "create": _post(client, "/admin/dealers", token, name="Kiosk", currency="USD", commission_bps="300"),
        "credit": _post(
            client, f"/admin/dealers/{dealer.public_id}/credit", token, amount="5.00", reference="r1"
        ),
        "suspend": _post(client, f"/admin/dealers/{dealer.public_id}/status", token, action="suspend"),
        "rotate": _post(client, f"/admin/dealers/{dealer.public_id}/rotate-key", token),
    }
    codes = {name: response.status_code for name, response in statuses.items()}  # type: ignore[attr-defined]
    allowed = {
        "create": role == "admin",
        "credit": role == "finance",
        "suspend": role == "admin",
        "rotate": role == "admin",
    }
    for name, ok in allowed.items():
        assert (codes[name] != 403) == ok, (role, name, codes[name])
    row = dealer_row(database, dealer)
    assert (row.status == "suspended") == allowed["suspend"]
    assert (row.api_key_id != dealer.api_key_id) == allowed["rotate"]
    assert float_balance(database, dealer) == (10_500 if allowed["credit"] else 10_000)
    if not any(allowed.values()):
        assert _dealer_audits(database) == before
    ledger_is_clean()


class TestActions:
    def test_a_created_dealer_shows_its_secret_once_and_it_signs(
        self, client: TestClient, database: Database
    ) -> None:
        sign_in(client, *make_staff(database, "admin"))
        response = _post(client, "/admin/dealers", name="Campus Kiosk", currency="USD", commission_bps="500")
        assert response.status_code == 200  # type: ignore[attr-defined]
        key_id, secret = re.findall(r'<code class="secret">([^<]+)</code>', response.text)  # type: ignore[attr-defined]
        assert "shown only this once" in response.text  # type: ignore[attr-defined]
        assert secret not in client.get("/admin/dealers", headers=EN).text
        (entry,) = audit_entries(database, "dealer.created")
        assert secret not in json.dumps(entry.after)
        dealer_id = entry.after["dealer_id"]  # type: ignore[index]
        with database.reading() as session:
            from sqlalchemy import select

            row = session.scalars(select(Dealer).where(Dealer.public_id == dealer_id)).one()
            made = MadeDealer(row.public_id, row.id, row.api_key_id, secret, row.float_account_id)
        assert made.api_key_id == key_id
        # A till with no float: the key is accepted (signature checked), the sale refused for want of float.
        assert _sell(client, database, made, secret, key_id) not in (401, 403)
        ledger_is_clean()

    def test_finance_credits_the_float_once_per_reference(
        self, client: TestClient, database: Database, dealer: MadeDealer
    ) -> None:
        sign_in(client, *make_staff(database, "finance", email="cash@roamcard.test"))
        path = f"/admin/dealers/{dealer.public_id}/credit"
        first = _post(
            client, path, _finance_token(client), amount="250.50", reference="BANK-77", reason="wire"
        )
        assert first.headers["location"] == f"/admin/dealers/{dealer.public_id}?done=credited"  # type: ignore[attr-defined]
        assert float_balance(database, dealer) == 10_000 + 25_050
        again = _post(
            client, path, _finance_token(client), amount="250.50", reference="BANK-77", reason="wire"
        )
        assert again.status_code == 303  # type: ignore[attr-defined]
        assert float_balance(database, dealer) == 35_050  # the same payment, not credited twice
        other = _post(client, path, _finance_token(client), amount="9.00", reference="BANK-77", reason="wire")
        assert other.status_code == 409  # type: ignore[attr-defined]
        bad = _post(client, path, _finance_token(client), amount="-3", reason="wire")
        assert bad.status_code == 422  # type: ignore[attr-defined]
        assert float_balance(database, dealer) == 35_050
        entries = audit_entries(database, "dealer.credited")
        assert entries[0].before["float"] == 10_000  # type: ignore[index]
        assert entries[0].after["float"] == 35_050  # type: ignore[index]
        assert entries[0].after["credited"] == 25_050  # type: ignore[index]
        assert (entries[0].staff_email, entries[0].reason) == ("cash@roamcard.test", "wire")
        assert _dealer_audits(database).count("dealer.credited.failed") == 2
        ledger_is_clean()

    def test_suspend_refuses_the_till_and_resume_lets_it_in(
        self, client: TestClient, database: Database, dealer: MadeDealer
    ) -> None:
        sign_in(client, *make_staff(database, "admin"))
        path = f"/admin/dealers/{dealer.public_id}/status"
        assert _post(client, path, action="suspend").headers["location"].endswith("done=suspended")  # type: ignore[attr-defined]
        assert dealer_row(database, dealer).status == "suspended"
        assert _sell(client, database, dealer, dealer.secret, dealer.api_key_id) == 403
        assert _post(client, path, action="suspend").status_code == 409  # type: ignore[attr-defined]
        assert _post(client, path, action="resume").status_code == 303  # type: ignore[attr-defined]
        assert dealer_row(database, dealer).status == "active"
        assert "dealer.suspend" in _dealer_audits(database)
        assert "dealer.resume" in _dealer_audits(database)
        assert "dealer.suspend.failed" in _dealer_audits(database)
        ledger_is_clean()

    def test_a_rotated_key_replaces_the_old_one_at_once(
        self, client: TestClient, database: Database, dealer: MadeDealer
    ) -> None:
        sign_in(client, *make_staff(database, "admin"))
        response = _post(client, f"/admin/dealers/{dealer.public_id}/rotate-key", reason="till stolen")
        assert response.status_code == 200  # type: ignore[attr-defined]
        key_id, secret = re.findall(r'<code class="secret">([^<]+)</code>', response.text)  # type: ignore[attr-defined]
        assert key_id != dealer.api_key_id
        assert _sell(client, database, dealer, dealer.secret, dealer.api_key_id) == 401
        assert _sell(client, database, dealer, secret, key_id) == 201
        (entry,) = audit_entries(database, "dealer.key_rotated")
        assert (entry.before, entry.after) == ({"api_key_id": dealer.api_key_id}, {"api_key_id": key_id})
        assert secret not in json.dumps(entry.after)
        ledger_is_clean()

    def test_csrf_is_required(self, client: TestClient, database: Database, dealer: MadeDealer) -> None:
        sign_in(client, *make_staff(database, "admin"))
        for path, fields in (
            ("/admin/dealers", {"name": "X", "currency": "USD", "commission_bps": "1"}),
            (f"/admin/dealers/{dealer.public_id}/status", {"action": "suspend"}),
            (f"/admin/dealers/{dealer.public_id}/rotate-key", {}),
        ):
            assert _post(client, path, "forged", **fields).status_code == 403  # type: ignore[attr-defined]
        assert dealer_row(database, dealer).status == "active"
        assert _dealer_audits(database) == []

    def test_the_pages_are_localised(
        self, client: TestClient, database: Database, dealer: MadeDealer
    ) -> None:
        sign_in(client, *make_staff(database, "admin"))
        page = client.get(f"/admin/dealers/{dealer.public_id}", headers={"Accept-Language": "zh-CN"}).text
        assert "暂停代理商" in page
        assert "更换收银终端密钥" in page
