from __future__ import annotations

import pytest
from sqlalchemy import select

from roamcard.db import Database
from roamcard.lifecycle import IllegalTransition
from roamcard.models import StateTransition
from roamcard.topup.service.create import create_topup
from roamcard.topup.states import TopupStatus, topup_machine
from tests.factories import make_card, make_catalog
from tests.payment.test_sandbox_webhook import run_in_parallel

S = TopupStatus


def new_order(database: Database) -> str:
    with database.transaction() as session:
        make_catalog(session)
        order, _ = create_topup(
            session, make_card(session), product_id="balance-10", currency="USD", payment_method="sandbox"
        )
        return order.id


class TestTransitionTable:
    @pytest.mark.parametrize(
        ("source", "target"),
        [
            (S.PENDING_PAYMENT, S.FULFILLED),
            (S.FULFILLED, S.PAID),
            (S.EXPIRED, S.PAID),
            (S.FAILED, S.PENDING_PAYMENT),
            (S.PAID, S.EXPIRED),
        ],
    )
    def test_illegal_transitions_are_refused(self, source: S, target: S) -> None:
        assert not topup_machine.allowed(source, target)

    def test_terminal_states(self) -> None:
        assert {s for s in S if topup_machine.terminal(s)} == {S.FULFILLED, S.EXPIRED, S.FAILED}

    def test_illegal_transition_raises_before_touching_the_database(self, database: Database) -> None:
        order_id = new_order(database)
        with database.transaction() as session, pytest.raises(IllegalTransition):
            topup_machine.transition(session, order_id, S.PENDING_PAYMENT, S.FULFILLED)


class TestConditionalUpdate:
    def test_a_stale_source_state_loses_quietly(self, database: Database) -> None:
        order_id = new_order(database)
        with database.transaction() as session:
            assert not topup_machine.transition(session, order_id, S.PAID, S.FULFILLED)

    def test_racing_transitions_have_exactly_one_winner_and_history_records_it(
        self, database: Database
    ) -> None:
        order_id = new_order(database)

        def race(index: int) -> bool:
            target = S.PAID if index % 2 else S.EXPIRED
            with database.transaction() as session:
                return topup_machine.transition(session, order_id, S.PENDING_PAYMENT, target)

        outcomes = run_in_parallel(12, race)
        assert outcomes.count(True) == 1
        with database.reading() as session:
            history = session.scalars(
                select(StateTransition)
                .where(StateTransition.entity_type == "topup", StateTransition.entity_id == order_id)
                .order_by(StateTransition.id)
            ).all()
        assert (history[0].from_status, history[0].to_status) == (None, "pending_payment")
        assert len(history) == 2
        assert history[1].from_status == "pending_payment"
        assert history[1].at >= history[0].at
