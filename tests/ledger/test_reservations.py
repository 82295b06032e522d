"""Two-phase transfers: holds guarded on balance - pending, posted for what was used, the rest released;
verify covers them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.ledger import reservations
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import LedgerAccount, LedgerReservation, StateTransition
from tests.factories import make_card


def _card_with(database: Database, amount: int) -> int:
    with database.transaction() as session:
        card_id = make_card(session).id
    with database.tx() as tx:
        ledger.transfer(
            tx,
            key=f"seed:{card_id}",
            debit=ledger.operator(tx, "issued", "USD"),
            credit=ledger.wallet(tx, card_id, "USD"),
            amount=amount,
            reason="topup",
        )
    return card_id


def _hold(database: Database, card_id: int, key: str, amount: int) -> int:
    with database.tx() as tx:
        return reservations.reserve(
            tx,
            key=key,
            account=ledger.wallet(tx, card_id, "USD"),
            counter=ledger.operator(tx, "usage", "USD"),
            amount=amount,
            expires_at=clock.now() + timedelta(seconds=600),
        ).id


def _wallet(database: Database, card_id: int) -> tuple[int, int]:
    with database.reading() as session:
        account = session.scalars(
            select(LedgerAccount).where(LedgerAccount.code == f"card:{card_id}:wallet:USD")
        ).one()
        return account.balance, account.pending


def _verify(database: Database) -> ledger.VerifyReport:
    with database.reading() as session:
        return ledger.verify(session)


class TestReserve:
    def test_a_hold_is_pending_not_a_debit_and_parallel_holds_cannot_pass_the_balance(
        self, database: Database
    ):
        card_id = _card_with(database, 1000)
        _hold(database, card_id, "r1", 700)
        assert _wallet(database, card_id) == (1000, 700)
        with pytest.raises(ledger.InsufficientBalance):
            _hold(database, card_id, "r2", 301)
        assert _wallet(database, card_id) == (1000, 700)
        assert _verify(database).ok

    def test_an_ordinary_debit_cannot_take_what_is_held(self, database: Database):
        card_id = _card_with(database, 1000)
        _hold(database, card_id, "r1", 700)
        with pytest.raises(ledger.InsufficientBalance), database.tx() as tx:
            ledger.transfer(
                tx,
                key="refund-ish",
                debit=ledger.wallet(tx, card_id, "USD"),
                credit=ledger.operator(tx, "sales", "USD"),
                amount=301,
                reason="refund",
            )

    def test_the_same_key_holds_once(self, database: Database):
        card_id = _card_with(database, 1000)
        first = _hold(database, card_id, "r1", 100)
        assert _hold(database, card_id, "r1", 100) == first
        assert _wallet(database, card_id) == (1000, 100)


class TestSettle:
    def test_what_was_used_is_posted_the_rest_released_and_a_repeat_changes_nothing(self, database: Database):
        card_id = _card_with(database, 1000)
        held = _hold(database, card_id, "r1", 400)
        with database.tx() as tx:
            assert reservations.settle(tx, held, 150) == 150
        with database.tx() as tx:
            assert reservations.settle(tx, held, 150) == 0
        assert _wallet(database, card_id) == (850, 0)
        with database.reading() as session:
            row = session.scalars(select(LedgerReservation)).one()
            assert (row.status, row.posted_amount) == ("posted", 150)
            history = session.scalars(
                select(StateTransition.to_status).where(StateTransition.entity_type == "reservation")
            ).all()
            assert list(history) == ["pending", "posted"]
        assert _verify(database).ok

    def test_nothing_used_voids_and_more_than_held_posts_only_the_hold(self, database: Database):
        card_id = _card_with(database, 1000)
        void, over = _hold(database, card_id, "r1", 100), _hold(database, card_id, "r2", 100)
        with database.tx() as tx:
            assert reservations.settle(tx, void, 0) == 0
            assert reservations.settle(tx, over, 500) == 100
        assert _wallet(database, card_id) == (900, 0)
        assert _verify(database).ok

    def test_a_lapsed_hold_is_voided_by_the_sweep(self, database: Database, frozen_clock: clock.FrozenClock):
        card_id = _card_with(database, 1000)
        _hold(database, card_id, "r1", 100)
        frozen_clock.advance(seconds=601)
        with database.tx() as tx:
            assert reservations.void_lapsed(tx) == 1
        with database.tx() as tx:
            assert reservations.void_lapsed(tx) == 0
        assert _wallet(database, card_id) == (1000, 0)


class TestPacks:
    def test_an_expiring_pack_voids_its_holds_then_moves_everything_to_breakage(
        self, database: Database, frozen_clock: clock.FrozenClock
    ):
        with database.transaction() as session:
            card_id = make_card(session).id
        with database.tx() as tx:
            allowance_id = ledger.grant_pack(
                tx,
                key="pack",
                card_id=card_id,
                asset=Asset.DATA_BYTES,
                amount=1000,
                validity_days=1,
                order_id=None,
                product_id=None,
            )
            account_id = int(tx.value("SELECT account_id FROM allowances WHERE id = :id", id=allowance_id))
            reservations.reserve(
                tx,
                key="held",
                account=ledger.Account(account_id, "card:pack", Asset.DATA_BYTES.value, True),
                counter=ledger.operator(tx, "usage", Asset.DATA_BYTES.value),
                amount=400,
                expires_at=clock.now() + timedelta(days=2),
            )
        frozen_clock.advance(days=1, seconds=1)
        with database.transaction() as session:
            assert ledger.expire_lapsed_allowances(session) == 1
        with database.reading() as session:
            account = session.get(LedgerAccount, account_id)
            assert account is not None
            assert (account.balance, account.pending) == (0, 0)
        assert _verify(database).ok


class TestVerify:
    def test_a_pending_that_differs_from_its_holds_is_reported(self, database: Database):
        card_id = _card_with(database, 1000)
        _hold(database, card_id, "r1", 100)
        with database.transaction() as session:
            session.execute(
                update(LedgerAccount)
                .where(LedgerAccount.code == f"card:{card_id}:wallet:USD")
                .values(pending=50)
            )
        report = _verify(database)
        assert not report.ok
        assert report.mismatched_pending == [(f"card:{card_id}:wallet:USD", 50, 100)]
