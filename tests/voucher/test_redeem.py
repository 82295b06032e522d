from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from roamcard.db import Database
from roamcard.jobs.sweepers import expire_lapsed_vouchers
from roamcard.kit.clock import FrozenClock
from roamcard.ledger import service as ledger
from roamcard.models import (
    Card,
    CardReviewFlag,
    LedgerTransfer,
    Notification,
    StateTransition,
    TopupOrder,
    Voucher,
    VoucherAttempt,
)
from roamcard.topup.states import Channel
from roamcard.voucher import service
from roamcard.voucher.service.redeem import VoucherPinLocked, VoucherPinWrong, VoucherRedeemed
from roamcard.voucher.states import RangeAction
from tests.factories import make_card, make_catalog
from tests.payment.test_sandbox_webhook import run_in_parallel
from tests.statements import record_statements
from tests.topup.test_api_flow import sign_in
from tests.voucher.support import (
    MadeBatch,
    assert_books_balance,
    change,
    count_rows,
    derived_balance,
    liability,
    make_batch,
    pin_of,
)

WRONG_PIN = "0000 0000 0000 0000"


def new_card(database: Database, **kwargs: Any) -> Card:
    with database.transaction() as session:
        make_catalog(session)
        return make_card(session, **kwargs)


def wallet(database: Database, card: Card) -> int:
    with database.reading() as session:
        return ledger.wallet_account(session, card.id, card.currency).balance


def redeem(client: TestClient, auth: dict[str, str], pin: str, **headers: str) -> Any:
    return client.post("/api/v1/vouchers/redeem", json={"pin": pin}, headers={**auth, **headers})


def attempts(database: Database, card: Card) -> list[str]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(VoucherAttempt.outcome)
                .where(VoucherAttempt.card_id == card.id)
                .order_by(VoucherAttempt.id)
            )
        )


@pytest.fixture
def card(database: Database) -> Card:
    return new_card(database)


@pytest.fixture
def auth(client: TestClient, card: Card) -> dict[str, str]:
    return sign_in(client, card.card_number)


@pytest.fixture
def batch(database: Database) -> MadeBatch:
    return make_batch(database, count=6, face_value=1000)


class TestRedeemingThroughTheApi:
    def test_a_pin_tops_up_the_card_once_with_the_order_and_an_sms(
        self, database: Database, client: TestClient, card: Card, auth: dict[str, str], batch: MadeBatch
    ) -> None:
        response = redeem(client, auth, pin_of(batch, 0, spaced=True))
        assert response.status_code == 201, response.text
        order = response.json()
        assert (order["status"], order["channel"], order["payment"]) == ("fulfilled", "voucher", None)
        assert order["price"] == {"amount": 1000, "currency": "USD"}
        assert order["grants"] == [{"asset": "USD", "amount": 1000}]
        assert order["product_name_en"] == "Recharge card $10.00"
        # The same shape as every top-up: GET /topups/{id} returns exactly this order.
        assert client.get(f"/api/v1/topups/{order['id']}", headers=auth).json() == order
        assert wallet(database, card) == 1000
        with database.reading() as session:
            sms = session.scalars(select(Notification)).one()
            stored = session.get(TopupOrder, order["id"])
        assert order["id"] in sms.body
        assert stored is not None
        assert stored.payment_method == "voucher"
        assert liability(database) == 5000  # six activated, one redeemed
        assert derived_balance(database, "operator:sales:USD") == 1000
        assert attempts(database, card) == ["redeemed"]
        assert_books_balance(database)

    def test_a_retry_with_its_idempotency_key_gets_the_first_answer(
        self, database: Database, client: TestClient, card: Card, auth: dict[str, str], batch: MadeBatch
    ) -> None:
        first = redeem(client, auth, pin_of(batch, 0), **{"Idempotency-Key": "redeem-1"})
        assert first.status_code == 201, first.text
        again = redeem(client, auth, pin_of(batch, 0, spaced=True), **{"Idempotency-Key": "redeem-1"})
        assert (again.status_code, again.json(), again.headers["Idempotent-Replayed"]) == (
            201,
            first.json(),
            "true",
        )
        assert redeem(client, auth, pin_of(batch, 0)).json()["code"] == "voucher_redeemed"  # no key: refused
        other = redeem(client, auth, pin_of(batch, 1), **{"Idempotency-Key": "redeem-1"})
        assert (other.status_code, other.json()["code"]) == (409, "idempotency_key_reused")
        assert wallet(database, card) == 1000
        assert attempts(database, card) == ["redeemed", "already_redeemed"]

    def test_a_refused_pin_frees_its_idempotency_key(
        self, database: Database, client: TestClient, card: Card, auth: dict[str, str], batch: MadeBatch
    ) -> None:
        wrong = redeem(client, auth, WRONG_PIN, **{"Idempotency-Key": "redeem-2"})
        assert wrong.status_code == 400
        right = redeem(client, auth, pin_of(batch, 2), **{"Idempotency-Key": "redeem-2"})
        assert right.status_code == 201, right.text
        assert attempts(database, card) == ["wrong_pin", "redeemed"]  # the wrong one still counted

    def test_a_pack_voucher_grants_the_pack(
        self, database: Database, client: TestClient, card: Card, auth: dict[str, str]
    ) -> None:
        packs = make_batch(database, count=1, product_id="data-5gb-30d", currency="CNY")
        response = redeem(client, auth, pin_of(packs, 0))
        assert response.status_code == 201, response.text
        assert response.json()["price"] == {"amount": 10800, "currency": "CNY"}
        allowances = client.get("/api/v1/card", headers=auth).json()["allowances"]
        assert [(a["kind"], a["remaining"]) for a in allowances] == [("data", 5 * 1024**3)]
        assert wallet(database, card) == 0
        assert liability(database, "CNY") == 0
        assert derived_balance(database, "operator:sales:CNY") == 10800
        assert_books_balance(database)

    def test_a_pin_that_is_not_16_digits_is_a_field_error_and_is_not_counted(
        self, database: Database, client: TestClient, card: Card, auth: dict[str, str]
    ) -> None:
        for pin in ("12345", "1234 5678 9012 345x", "1" * 17):
            response = redeem(client, auth, pin)
            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "pin"
        assert attempts(database, card) == []

    def test_unauthenticated(self, client: TestClient, batch: MadeBatch) -> None:
        assert client.post("/api/v1/vouchers/redeem", json={"pin": batch.pin(0)}).status_code == 401


class TestVoucherStates:
    """Each unusable voucher says why, changes nothing on the card, and the attempt is recorded."""

    @pytest.mark.parametrize(
        ("state", "status_code", "code", "outcome"),
        [
            ("redeemed", 409, "voucher_redeemed", "already_redeemed"),
            ("blocked", 409, "voucher_blocked", "blocked"),
            ("expired", 409, "voucher_expired", "expired"),
            ("lapsed", 409, "voucher_expired", "expired"),
            ("never activated", 409, "voucher_not_activated", "not_activated"),
            ("other currency", 409, "voucher_wrong_currency", "wrong_currency"),
            ("wrong pin", 400, "voucher_pin_wrong", "wrong_pin"),
        ],
    )
    def test_unusable_vouchers_say_which(
        self,
        database: Database,
        client: TestClient,
        card: Card,
        frozen_clock: FrozenClock,
        state: str,
        status_code: int,
        code: str,
        outcome: str,
    ) -> None:
        made = make_batch(database, count=2, activate=state != "never activated", expires_in_days=30)
        pin = made.pin(0)
        if state == "redeemed":
            other = new_card(database)
            with database.transaction() as session:
                service.redeem(session, other, pin, channel=Channel.VOUCHER, client_key="198.51.100.7")
        elif state == "blocked":
            change(database, made, RangeAction.BLOCK, 0, 0)
        elif state == "expired":
            frozen_clock.advance(days=31)
            expire_lapsed_vouchers(database)
        elif state == "lapsed":  # past its expiry, not yet swept: expired on the spot
            frozen_clock.advance(days=31)
        elif state == "other currency":
            pin = make_batch(database, count=1, currency="CNY", face_value=7200).pin(0)
        elif state == "wrong pin":
            pin = WRONG_PIN
        balance_before = wallet(database, card)
        orders_before = count_rows(database, TopupOrder)
        auth = sign_in(client, card.card_number)  # a month may have passed

        response = redeem(client, auth, pin, **{"Accept-Language": "en"})

        assert (response.status_code, response.json()["code"]) == (status_code, code), response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "order_id" not in response.json()  # never another card's order
        assert wallet(database, card) == balance_before
        assert count_rows(database, TopupOrder) == orders_before
        assert attempts(database, card) == [outcome]
        if state == "lapsed":
            assert derived_balance(database, "operator:voucher_breakage:USD") == 1000
        assert_books_balance(database)

    def test_the_same_card_retrying_a_redeemed_pin_learns_its_order(
        self, database: Database, client: TestClient, auth: dict[str, str], batch: MadeBatch
    ) -> None:
        first = redeem(client, auth, batch.pin(1)).json()
        again = redeem(client, auth, batch.pin(1))
        assert (again.status_code, again.json()["order_id"]) == (409, first["id"])

    def test_the_wrong_pin_answer_is_the_same_for_every_unknown_pin_and_in_chinese(
        self, client: TestClient, auth: dict[str, str]
    ) -> None:
        answers = [
            redeem(client, auth, pin, **{"Accept-Language": "zh-CN"}).json() for pin in (WRONG_PIN, "9" * 16)
        ]
        assert answers[0] == answers[1]
        assert "充值密码" in answers[0]["detail"]


class TestBruteForce:
    def test_five_wrong_pins_per_card_per_hour_then_429_until_the_hour_passes(
        self,
        database: Database,
        client: TestClient,
        card: Card,
        auth: dict[str, str],
        batch: MadeBatch,
        frozen_clock: FrozenClock,
    ) -> None:
        for _ in range(5):
            assert redeem(client, auth, WRONG_PIN).status_code == 400
            frozen_clock.advance(minutes=1)
        locked = redeem(client, auth, batch.pin(0))  # even the right PIN waits
        assert (locked.status_code, locked.json()["code"]) == (429, "voucher_pin_locked")
        assert int(locked.headers["Retry-After"]) == 3600 - 5 * 60
        frozen_clock.advance(seconds=3600 - 5 * 60 - 1)
        assert redeem(client, auth, batch.pin(0)).status_code == 429
        frozen_clock.advance(seconds=2)  # the first wrong PIN is now more than an hour old
        assert redeem(client, auth, batch.pin(0)).status_code == 201
        assert attempts(database, card) == ["wrong_pin"] * 5 + ["throttled"] * 2 + ["redeemed"]
        assert wallet(database, card) == 1000

    def test_five_wrong_pins_from_one_client_block_that_client_on_every_card(
        self, database: Database, client: TestClient, batch: MadeBatch, frozen_clock: FrozenClock
    ) -> None:
        cards = [new_card(database) for _ in range(3)]
        auths = [sign_in(client, c.card_number) for c in cards]
        for index in range(5):
            assert redeem(client, auths[index % 2], WRONG_PIN).status_code == 400
        blocked = redeem(client, auths[2], batch.pin(0))  # a fresh card, the same client IP
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["Retry-After"]) <= 3600
        with database.transaction() as session:  # another client (the hotline, another IP) is not affected
            order = service.redeem(
                session, cards[2], batch.pin(0), channel=Channel.IVR, client_key="ivr:+8613900000000"
            )
        assert order.channel == "ivr"

    def test_twenty_wrong_pins_in_a_day_flag_the_card_once(
        self, database: Database, card: Card, frozen_clock: FrozenClock
    ) -> None:
        def wrong(times: int) -> None:
            for _ in range(times):
                # The edge commits a recorded outcome (keeps_changes), as transaction() does here.
                with database.transaction() as session, pytest.raises(VoucherPinWrong):
                    service.redeem(
                        session, card, WRONG_PIN, channel=Channel.VOUCHER, client_key="203.0.113.9"
                    )

        for _ in range(3):
            wrong(5)
            frozen_clock.advance(minutes=61)
        wrong(4)
        assert count_rows(database, CardReviewFlag) == 0  # 19 in a day
        frozen_clock.advance(minutes=61)
        wrong(1)
        wrong(4)
        with database.transaction() as session, pytest.raises(VoucherPinLocked):
            service.redeem(session, card, WRONG_PIN, channel=Channel.VOUCHER, client_key="203.0.113.9")
        with database.reading() as session:
            flags = session.scalars(select(CardReviewFlag)).all()
        assert [(f.card_id, f.reason, f.detail) for f in flags] == [
            (card.id, "voucher_pin_failures", "20 wrong recharge PINs within 24 hours")
        ]

    def test_the_review_window_is_a_day(
        self, database: Database, card: Card, frozen_clock: FrozenClock
    ) -> None:
        for _ in range(5):
            for _ in range(4):
                with database.transaction() as session, pytest.raises(VoucherPinWrong):
                    service.redeem(
                        session, card, WRONG_PIN, channel=Channel.VOUCHER, client_key="203.0.113.9"
                    )
            frozen_clock.advance(hours=6)  # 4 every 6 hours: never 20 within 24 hours
        assert count_rows(database, CardReviewFlag) == 0


class TestParallelRedemption:
    def test_two_parallel_redemptions_of_one_pin_credit_once(
        self, database: Database, batch: MadeBatch
    ) -> None:
        cards = [new_card(database) for _ in range(2)]

        def attempt(index: int) -> str:
            with database.transaction() as session:
                order = service.redeem(
                    session, cards[index], batch.pin(0), channel=Channel.VOUCHER, client_key=f"10.0.0.{index}"
                )
                return order.id

        outcomes = run_in_parallel(2, attempt)
        winners = [o for o in outcomes if isinstance(o, str)]
        assert len(winners) == 1, outcomes
        assert [type(o) for o in outcomes if not isinstance(o, str)] == [VoucherRedeemed]
        assert sorted(wallet(database, c) for c in cards) == [0, 1000]
        assert count_rows(database, LedgerTransfer, LedgerTransfer.reason == "voucher_redeem") == 1
        assert count_rows(database, TopupOrder) == 1
        assert liability(database) == 5000
        assert_books_balance(database)

    def test_many_parallel_redemptions_of_one_pin_on_one_card_credit_once(
        self, database: Database, card: Card, batch: MadeBatch
    ) -> None:
        def attempt(_: int) -> str:
            with database.transaction() as session:
                return service.redeem(
                    session, card, batch.pin(2), channel=Channel.VOUCHER, client_key="10.0.0.1"
                ).id

        outcomes = run_in_parallel(8, attempt)
        assert len([o for o in outcomes if isinstance(o, str)]) == 1, outcomes
        assert {type(o) for o in outcomes if not isinstance(o, str)} == {VoucherRedeemed}
        assert wallet(database, card) == 1000
        assert count_rows(database, Notification) == 1
        assert_books_balance(database)


# Per redemption once the operator accounts are known (the first redemption of a process looks them up):
# the token, the per-card lock (PostgreSQL), limits and PIN, the live campaigns (a recharge card's bonus),
# the write, then the fulfilment (transition, wallet, transfer and its balance update, the SMS with its
# history and job, the balance for the SMS), and the card's validity (one UPDATE, card/validity.py).
PG_STATEMENTS = 12
SQLITE_STATEMENTS = 20


def redemption_history(database: Database, serial: str, order_id: str) -> list[tuple[str, str | None, str]]:
    """The voucher's history, then the order's, each in its own order (one statement on PostgreSQL writes
    both, in no defined order between the two)."""
    with database.reading() as session:
        rows = session.scalars(
            select(StateTransition)
            .where(StateTransition.entity_id.in_([serial, order_id]))
            .order_by(StateTransition.entity_type.desc(), StateTransition.at, StateTransition.id)
        ).all()
        return [(row.entity_type, row.from_status, row.to_status) for row in rows]


class TestOnTheLeanPath:
    """One transaction per request, hand-written SQL only, the answer built from what was written. On
    PostgreSQL the redemption's write (voucher, order, history, liability -> sales, attempt) is one
    statement and the limits and the PIN one read; SQLite runs the same steps one by one."""

    def test_a_redemption_is_a_fixed_few_statements_and_no_orm(
        self,
        database: Database,
        client: TestClient,
        card: Card,
        auth: dict[str, str],
        batch: MadeBatch,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert redeem(client, auth, pin_of(batch, 0)).status_code == 201  # operator accounts now known
        statements = record_statements(monkeypatch)
        orm: list[str] = []

        def seen(*args: object) -> None:
            orm.append(str(args[2]))

        event.listen(database.engine, "before_cursor_execute", seen)
        try:
            response = redeem(client, auth, pin_of(batch, 1))
        finally:
            event.remove(database.engine, "before_cursor_execute", seen)
        assert response.status_code == 201, response.text
        assert len(statements) == (SQLITE_STATEMENTS if database.is_sqlite else PG_STATEMENTS), [
            s[:60] for s in statements
        ]
        assert orm == []  # no ORM session, no SQLAlchemy-compiled statement
        statements.clear()
        again = redeem(client, auth, pin_of(batch, 2), **{"Idempotency-Key": "lean-1"})
        assert again.status_code == 201, again.text
        # With an Idempotency-Key: the key's claim and its answer, two statements more.
        assert len(statements) == (SQLITE_STATEMENTS if database.is_sqlite else PG_STATEMENTS) + 2
        assert wallet(database, card) == 3000
        assert_books_balance(database)

    def test_the_folded_write_leaves_what_the_steps_leave(
        self, database: Database, client: TestClient, card: Card, auth: dict[str, str], batch: MadeBatch
    ) -> None:
        order = redeem(client, auth, pin_of(batch, 0)).json()
        serial = batch.serials[0]
        assert redemption_history(database, serial, order["id"]) == [
            ("voucher", "generated", "active"),
            ("voucher", "active", "redeemed"),
            ("topup", None, "pending_payment"),
            ("topup", "pending_payment", "paid"),
            ("topup", "paid", "fulfilled"),
        ]
        with database.reading() as session:
            voucher = session.get(Voucher, serial)
            stored = session.get(TopupOrder, order["id"])
            moved = session.scalars(
                select(LedgerTransfer).where(LedgerTransfer.key == f"voucher:{serial}:redeem")
            ).one()
        assert voucher is not None
        assert stored is not None
        assert (voucher.status, voucher.redeemed_card_id, voucher.order_id) == (
            "redeemed",
            card.id,
            order["id"],
        )
        assert (stored.status, stored.payment_method, stored.paid_at is not None) == (
            "fulfilled",
            "voucher",
            True,
        )
        assert (moved.amount, moved.reason, moved.reference) == (1000, "voucher_redeem", order["id"])
        assert attempts(database, card) == ["redeemed"]
        # The answer is what a read of the stored order answers.
        assert client.get(f"/api/v1/topups/{order['id']}", headers=auth).json() == order

    def test_a_refusal_commits_its_attempt_and_nothing_else(
        self, database: Database, client: TestClient, card: Card, auth: dict[str, str], batch: MadeBatch
    ) -> None:
        assert redeem(client, auth, WRONG_PIN).status_code == 400
        assert redeem(client, auth, pin_of(batch, 0)).status_code == 201
        used = redeem(client, auth, pin_of(batch, 0))
        assert (used.status_code, used.json()["code"]) == (409, "voucher_redeemed")
        assert attempts(database, card) == ["wrong_pin", "redeemed", "already_redeemed"]
        assert wallet(database, card) == 1000
        assert_books_balance(database)
