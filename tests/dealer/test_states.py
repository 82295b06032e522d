"""Dealer status changes go through the state machine: conditional, recorded, and only along the table."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from roamcard.db import Database
from roamcard.dealer.service import manage
from roamcard.dealer.states import DealerStatus, dealer_machine
from roamcard.kit import clock
from roamcard.kit.state_machine import IllegalTransition
from roamcard.models import Dealer, StateTransition
from tests.dealer.support import make_dealer


class TestDealerMachine:
    def test_suspending_is_a_recorded_transition_that_wins_once(
        self, database: Database, frozen_clock: clock.FrozenClock
    ) -> None:
        made = make_dealer(database)
        frozen_clock.advance(minutes=5)
        with database.transaction() as session:
            dealer = session.get(Dealer, made.id)
            assert dealer is not None
            assert manage.set_status(session, dealer, DealerStatus.SUSPENDED, actor="staff:1")
            assert not manage.set_status(session, dealer, DealerStatus.SUSPENDED, actor="staff:1")
            assert (dealer.status, dealer.updated_at) == ("suspended", clock.now())
        with database.reading() as session:
            [row] = session.scalars(select(StateTransition).where(StateTransition.entity_type == "dealer"))
            assert (row.entity_id, row.from_status, row.to_status) == (made.public_id, "active", "suspended")

    def test_a_transition_outside_the_table_is_a_bug(self, database: Database) -> None:
        made = make_dealer(database)
        with database.transaction() as session, pytest.raises(IllegalTransition):
            dealer_machine.transition(session, made.public_id, DealerStatus.ACTIVE, DealerStatus.ACTIVE)
