"""Refunds of promoted orders (docs/user-guide.md, "Refunds of promoted recharges"): a discount is not paid
back (the money is in proportion to what was charged); a bonus never used is taken back with the order, to
promotion expense; what of a bonus was consumed is deducted from the money; `ledger verify` stays clean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.ledger import repository as ledger_repository
from roamcard.ledger import service as ledger
from roamcard.models import Allowance, Refund, TopupOrder
from roamcard.payment import providers
from roamcard.payment.providers.base import RefundOutcome, RemoteRefund
from tests.payment.flows import drain
from tests.promotion.test_topup import TWENTY, _balances, _create, _load, _pay, _verify_clean
from tests.refund.test_refunds import ask, decide

GB = 1024**3
BONUS_PACK = (
    '{ kind = "bonus_pack", asset = "DATA_BYTES", amount = 1073741824, validity_days = 30, '
    "value = { CNY = 3600 } }"
)
# credited in the card's currency (USD), worth its CNY amount in a CNY order
BONUS_BALANCE = '{ kind = "bonus_balance", amounts = { CNY = 3000, USD = 500 } }'


def _refundable(client: TestClient, auth: dict[str, str], order_id: str) -> dict[str, object]:
    return dict(client.get(f"/api/v1/topups/{order_id}/refunds", headers=auth).json()["refundable"])


def _card_id(database: Database, order_id: str) -> int:
    with database.reading() as session:
        order = session.get(TopupOrder, order_id)
        assert order is not None
        return order.card_id


def _use(database: Database, code: str, amount: int, key: str) -> None:
    """The card consumes `amount` from the account `code` (as charging does: to `usage`)."""
    with database.transaction() as session:
        account = ledger_repository.get_account_by_code(session, code)
        assert account is not None
        ledger.transfer(
            session,
            key=key,
            debit=account,
            credit=ledger.operator_account(session, "usage", account.asset),
            amount=amount,
            reason="usage",
        )


def _refund_through(database: Database, client: TestClient, auth: dict[str, str], order_id: str) -> Any:
    asked = ask(client, auth, order_id, "r1")
    assert asked.status_code == 201, asked.text
    decided = decide(database, asked.json()["id"], "approve")
    assert decided.status_code == 200, decided.json()
    drain(database)
    return asked.json()


def _live_packs(client: TestClient, auth: dict[str, str]) -> list[tuple[str, int]]:
    card = client.get("/api/v1/card", headers=auth).json()
    return sorted((a["kind"], a["remaining"]) for a in card["allowances"])


class TestPromotedRefunds:
    def test_a_discounted_pack_refunds_what_was_charged(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        assert _refundable(client, auth, order["id"]) == {"amount": 8640, "currency": "CNY"}
        _refund_through(database, client, auth, order["id"])
        books = _balances(database)
        assert abs(books["operator:gateway:sandbox:CNY"]) == 0
        _verify_clean(database)


class TestUnusedBonus:
    def test_an_unused_bonus_pack_goes_back_to_promotion_expense_with_the_order(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("winter", BONUS_PACK, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        assert _live_packs(client, auth) == [("data", GB), ("data", 5 * GB)]
        assert _refundable(client, auth, order["id"]) == {"amount": 10800, "currency": "CNY"}
        refund = _refund_through(database, client, auth, order["id"])
        assert refund["amount"] == {"amount": 10800, "currency": "CNY"}
        assert _live_packs(client, auth) == []
        books = _balances(database)
        assert books["operator:promotion:DATA_BYTES"] == 0  # the bonus came back
        assert books["operator:issued:DATA_BYTES"] == 0
        assert abs(books["operator:gateway:sandbox:CNY"]) == 0
        _verify_clean(database)

    def test_a_failed_gateway_refund_gives_the_bonus_back_to_the_card(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path, monkeypatch: Any
    ) -> None:
        _load(database, tmp_path, ("winter", BONUS_PACK, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        sandbox = providers.get_provider("sandbox")
        monkeypatch.setattr(
            sandbox, "refund", lambda *_a, **_k: RemoteRefund(RefundOutcome.FAILED, detail="declined")
        )
        monkeypatch.setattr(
            sandbox, "query_refund", lambda *_a, **_k: RemoteRefund(RefundOutcome.FAILED, detail="declined")
        )
        _refund_through(database, client, auth, order["id"])
        with database.reading() as session:
            assert session.scalar(select(Refund.status)) == "failed"
            assert all(a.expired_at is None for a in session.scalars(select(Allowance)))
        assert _live_packs(client, auth) == [("data", GB), ("data", 5 * GB)]
        books = _balances(database)
        assert abs(books["operator:promotion:DATA_BYTES"]) == GB
        _verify_clean(database)


class TestConsumedBonus:
    def test_a_partly_used_bonus_pack_is_deducted_at_its_worth_and_its_rest_taken_back(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("winter", BONUS_PACK, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        card_id = _card_id(database, order["id"])
        _use(database, f"card:{card_id}:allowance:{order['id']}:promotion:0", GB // 4, "usage:1")
        # a quarter of a bonus worth ¥36.00 was consumed: ¥9.00 less of the ¥108.00 charged
        assert _refundable(client, auth, order["id"]) == {"amount": 9900, "currency": "CNY"}
        _refund_through(database, client, auth, order["id"])
        assert _live_packs(client, auth) == []
        books = _balances(database)
        assert books["operator:promotion:DATA_BYTES"] == -(GB // 4)  # what the card consumed stays given
        assert abs(books["operator:gateway:sandbox:CNY"]) == 10800 - 9900
        _verify_clean(database)

    def test_a_used_product_pack_is_still_not_refundable(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("winter", BONUS_PACK, ""))
        order = _create(client, auth)
        _pay(database, client, order)
        card_id = _card_id(database, order["id"])
        _use(database, f"card:{card_id}:allowance:{order['id']}:fulfil:0", 1, "usage:1")
        assert _refundable(client, auth, order["id"])["amount"] == 0
        assert ask(client, auth, order["id"], "r1").status_code == 409
        _verify_clean(database)

    def test_a_bonus_balance_counts_as_spent_first_and_its_spent_part_is_deducted(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("bonus", BONUS_BALANCE, ""))
        order = _create(client, auth, product_id="balance-30")
        _pay(database, client, order)
        card_id = _card_id(database, order["id"])
        with database.reading() as session:
            wallet = ledger.find_wallet_account(session, card_id, "USD")
            assert wallet is not None
            assert wallet.balance == 3000 + 500
        _use(database, f"card:{card_id}:wallet:USD", 800, "usage:1")
        # $8 spent: the $5 bonus first (worth ¥30, deducted), then $3 of the $30 credit (a tenth of ¥216):
        # ¥216 - ¥21.60 - ¥30 = ¥164.40
        assert _refundable(client, auth, order["id"]) == {"amount": 16440, "currency": "CNY"}
        assert ask(client, auth, order["id"], "r0", amount=100).status_code == 422  # one refund, whole
        _refund_through(database, client, auth, order["id"])
        books = _balances(database)
        with database.reading() as session:
            wallet = ledger.find_wallet_account(session, card_id, "USD")
            assert wallet is not None
            assert wallet.balance == 0
        assert abs(books["operator:promotion:USD"]) == 500  # spent: it stays given
        assert abs(books["operator:gateway:sandbox:CNY"]) == 21600 - 16440
        _verify_clean(database)

    def test_an_unspent_bonus_balance_goes_back_to_promotion_expense(
        self, database: Database, client: TestClient, auth: dict[str, str], tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("bonus", BONUS_BALANCE, ""))
        order = _create(client, auth, product_id="balance-30")
        _pay(database, client, order)
        assert _refundable(client, auth, order["id"]) == {"amount": 21600, "currency": "CNY"}
        _refund_through(database, client, auth, order["id"])
        books = _balances(database)
        assert books["operator:promotion:USD"] == 0
        assert books["operator:issued:USD"] == 0
        _verify_clean(database)
