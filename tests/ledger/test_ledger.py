from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.ledger import repository
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import LedgerAccount
from tests.factories import make_card


def credit_wallet(session, card_id: int, amount: int, key: str) -> bool:  # type: ignore[no-untyped-def]
    return ledger.transfer(
        session,
        key=key,
        debit=ledger.operator_account(session, "issued", "USD"),
        credit=ledger.wallet_account(session, card_id, "USD"),
        amount=amount,
        reason="topup",
    )


class TestTransfer:
    def test_same_key_applies_once(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            assert credit_wallet(session, card.id, 500, "order-1:fulfil:0")
            assert not credit_wallet(session, card.id, 500, "order-1:fulfil:0")
            assert ledger.wallet_account(session, card.id, "USD").balance == 500

    def test_guarded_debit_refuses_to_go_below_zero_and_changes_nothing(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            credit_wallet(session, card.id, 300, "seed")
        with pytest.raises(ledger.InsufficientBalance), database.transaction() as session:
            ledger.transfer(
                session,
                key="spend",
                debit=ledger.wallet_account(session, card.id, "USD"),
                credit=ledger.operator_account(session, "usage", "USD"),
                amount=301,
                reason="usage",
            )
        with database.reading() as session:
            assert ledger.wallet_account(session, card.id, "USD").balance == 300
            assert repository.get_transfer_by_key(session, "spend") is None
            assert ledger.verify(session).ok

    def test_rejects_non_positive_and_cross_asset(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            wallet = ledger.wallet_account(session, card.id, "USD")
            with pytest.raises(ValueError, match="positive"):
                ledger.transfer(session, key="k", debit=wallet, credit=wallet, amount=0, reason="x")
            with pytest.raises(ValueError, match="asset mismatch"):
                ledger.transfer(
                    session,
                    key="k",
                    debit=ledger.operator_account(session, "issued", "CNY"),
                    credit=wallet,
                    amount=1,
                    reason="x",
                )


class TestVerify:
    def test_detects_a_tampered_cached_balance(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            credit_wallet(session, card.id, 1000, "seed")
            session.execute(update(LedgerAccount).where(LedgerAccount.card_id == card.id).values(balance=999))
        with database.reading() as session:
            report = ledger.verify(session)
        assert not report.ok
        assert [code for code, _, _ in report.mismatched_balances] == [f"card:{card.id}:wallet:USD"]


class TestAllowances:
    def test_consumed_earliest_expiry_first_then_shortfall(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            late = ledger.grant_allowance(
                session,
                key="late",
                card_id=card.id,
                asset=Asset.DATA_BYTES,
                amount=100,
                validity_days=30,
                order_id=None,
                product_id=None,
            )
            early = ledger.grant_allowance(
                session,
                key="early",
                card_id=card.id,
                asset=Asset.DATA_BYTES,
                amount=100,
                validity_days=7,
                order_id=None,
                product_id=None,
            )
            used = ledger.consume_allowances(
                session, key="use-1", card_id=card.id, asset=Asset.DATA_BYTES, quantity=150
            )
            assert (used.consumed, used.shortfall) == (150, 0)
            remaining = {
                a.id: left for a, left in repository.list_live_allowances(session, card.id, clock.now())
            }
            assert remaining == {early.id: 0, late.id: 50}
            more = ledger.consume_allowances(
                session, key="use-2", card_id=card.id, asset=Asset.DATA_BYTES, quantity=80
            )
            assert (more.consumed, more.shortfall) == (50, 30)
            assert ledger.verify(session).ok

    def test_lapsed_pack_moves_to_breakage_once(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
            ledger.grant_allowance(
                session,
                key="pack",
                card_id=card.id,
                asset=Asset.VOICE_SECONDS,
                amount=600,
                validity_days=1,
                order_id=None,
                product_id=None,
            )
        frozen_clock.advance(days=1, seconds=1)
        with database.transaction() as session:
            assert ledger.expire_lapsed_allowances(session) == 1
            assert ledger.expire_lapsed_allowances(session) == 0
            assert repository.list_live_allowances(session, card.id, clock.now()) == []
            expired = repository.get_account_by_code(session, "operator:expired:VOICE_SECONDS")
            assert expired is not None
            assert repository.derived_balances(session)[expired.id] == 600
            assert ledger.verify(session).ok


@dataclass
class Model:
    wallet: int = 0
    packs: list[list[int]] = field(default_factory=list)  # [expires_in_days, remaining, allowance_id]


operation = st.one_of(
    st.tuples(st.just("credit"), st.integers(1, 10_000)),
    st.tuples(st.just("debit"), st.integers(1, 10_000)),
    st.tuples(st.just("grant"), st.integers(1, 5_000), st.integers(1, 60)),
    st.tuples(st.just("consume"), st.integers(1, 8_000)),
    st.tuples(st.just("advance"), st.integers(1, 20)),
)


class TestLedgerInvariants:
    """Random sequences of movements: the books balance after every step, balances match a model,
    and packs drain earliest-expiry first."""

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(operation, min_size=1, max_size=25))
    def test_books_always_balance(self, database: Database, operations: list[tuple[int | str, ...]]) -> None:
        frozen = clock.FrozenClock()
        clock.set_clock(frozen)
        start = frozen.current
        model = Model()
        with database.transaction() as session:
            card = make_card(session)
        for step, op in enumerate(operations):
            with database.transaction() as session:
                kind = op[0]
                if kind == "credit":
                    credit_wallet(session, card.id, int(op[1]), f"{card.id}:{step}")
                    model.wallet += int(op[1])
                elif kind == "debit":
                    try:
                        with session.begin_nested():
                            ledger.transfer(
                                session,
                                key=f"{card.id}:{step}",
                                debit=ledger.wallet_account(session, card.id, "USD"),
                                credit=ledger.operator_account(session, "usage", "USD"),
                                amount=int(op[1]),
                                reason="usage",
                            )
                        model.wallet -= int(op[1])
                    except ledger.InsufficientBalance:
                        assert int(op[1]) > model.wallet
                elif kind == "grant":
                    allowance = ledger.grant_allowance(
                        session,
                        key=f"{card.id}:{step}",
                        card_id=card.id,
                        asset=Asset.DATA_BYTES,
                        amount=int(op[1]),
                        validity_days=int(op[2]),
                        order_id=None,
                        product_id=None,
                    )
                    elapsed = (frozen.current - start).days
                    model.packs.append([elapsed + int(op[2]), int(op[1]), allowance.id])
                elif kind == "consume":
                    result = ledger.consume_allowances(
                        session,
                        key=f"{card.id}:{step}",
                        card_id=card.id,
                        asset=Asset.DATA_BYTES,
                        quantity=int(op[1]),
                    )
                    wanted = int(op[1])
                    for pack in sorted(model.packs, key=lambda p: (p[0], p[2])):
                        take = min(pack[1], wanted)
                        pack[1] -= take
                        wanted -= take
                    assert result.shortfall == wanted
                else:
                    frozen.advance(days=int(op[1]))
                    ledger.expire_lapsed_allowances(session)
                    elapsed = (frozen.current - start).days
                    model.packs = [p for p in model.packs if p[0] > elapsed]
            with database.reading() as session:
                assert ledger.verify(session).ok
                assert ledger.wallet_account(session, card.id, "USD").balance == model.wallet
                live = {
                    a.id: left for a, left in repository.list_live_allowances(session, card.id, clock.now())
                }
                assert live == {p[2]: p[1] for p in model.packs}
        clock.reset_clock()


class TestGrantIsIdempotent:
    def test_granting_the_same_key_twice_returns_the_first_pack(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            grant = dict(key="order:fulfil:0", card_id=card.id, asset=Asset.SMS, amount=100, validity_days=30)
            first = ledger.grant_allowance(session, **grant, order_id=None, product_id=None)  # type: ignore[arg-type]
            second = ledger.grant_allowance(session, **grant, order_id=None, product_id=None)  # type: ignore[arg-type]
            assert first.id == second.id
            assert [left for _, left in repository.list_live_allowances(session, card.id, clock.now())] == [
                100
            ]
            assert ledger.verify(session).ok


class TestKeyReuse:
    """A business key names one movement of value (TigerBeetle: "exists with different fields")."""

    def test_the_same_key_with_a_different_amount_raises_naming_key_and_field(
        self, database: Database
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
            credit_wallet(session, card.id, 500, "order-1:fulfil:0")
        with pytest.raises(ledger.TransferKeyReused) as raised, database.transaction() as session:
            credit_wallet(session, card.id, 700, "order-1:fulfil:0")
        assert (raised.value.key, raised.value.field) == ("order-1:fulfil:0", "amount")
        assert "'order-1:fulfil:0' already exists with a different amount: 500" in str(raised.value)
        with database.reading() as session:
            assert ledger.wallet_account(session, card.id, "USD").balance == 500
            assert ledger.verify(session).ok

    def test_the_same_key_with_other_accounts_raises(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            other = make_card(session, phone="+8613900139000")
            credit_wallet(session, card.id, 500, "k")
            with pytest.raises(ledger.TransferKeyReused, match="credit account"):
                credit_wallet(session, other.id, 500, "k")
            with pytest.raises(ledger.TransferKeyReused, match="debit account"):
                ledger.transfer(
                    session,
                    key="k",
                    debit=ledger.operator_account(session, "deposits", "USD"),
                    credit=ledger.wallet_account(session, card.id, "USD"),
                    amount=500,
                    reason="topup",
                )

    def test_the_same_key_with_identical_fields_stays_a_no_op(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            assert credit_wallet(session, card.id, 500, "k")
            assert credit_wallet(session, card.id, 500, "k") is False
            assert ledger.wallet_account(session, card.id, "USD").balance == 500

    def test_a_repeated_usage_record_counts_what_it_took_instead_of_reusing_its_key(
        self, database: Database
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
            for key, days in (("early", 7), ("late", 30)):
                ledger.grant_allowance(
                    session,
                    key=key,
                    card_id=card.id,
                    asset=Asset.DATA_BYTES,
                    amount=100,
                    validity_days=days,
                    order_id=None,
                    product_id=None,
                )
            args = dict(key="cdr-1", card_id=card.id, asset=Asset.DATA_BYTES, quantity=60)
            first = ledger.consume_allowances(session, **args)  # type: ignore[arg-type]
            again = ledger.consume_allowances(session, **args)  # type: ignore[arg-type]
            assert (first.consumed, again.consumed) == (60, 60)
            left = sorted(left for _, left in repository.list_live_allowances(session, card.id, clock.now()))
            assert left == [40, 100]  # taken once, from the earliest pack
            assert ledger.verify(session).ok


class TestCreditGuard:
    def test_a_credit_whose_guarded_update_changes_nothing_raises(self, database: Database) -> None:
        with database.transaction() as session:
            card = make_card(session)
            wallet = ledger.wallet_account(session, card.id, "USD")
            session.execute(update(LedgerAccount).where(LedgerAccount.id == wallet.id).values(balance=-500))
        guard = pytest.raises(ledger.BalanceGuardFailed, match=f"card:{card.id}:wallet:USD")
        with guard, database.transaction() as session:
            credit_wallet(session, card.id, 100, "credit-past-guard")
        with database.reading() as session:
            assert repository.get_transfer_by_key(session, "credit-past-guard") is None
