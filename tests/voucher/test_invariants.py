"""Random sequences of voucher operations: after every step the books balance, the liability account holds
exactly the face value of the active vouchers, and every voucher is where a simple model says it is."""

from __future__ import annotations

import secrets
from contextlib import suppress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from roamcard.db import Database
from roamcard.dealer.service import sales
from roamcard.errors import AppError
from roamcard.kit import clock
from roamcard.ledger import service as ledger
from roamcard.models import Voucher
from roamcard.topup.states import Channel
from roamcard.voucher import repository
from roamcard.voucher import service as voucher_service
from roamcard.voucher.service import lifecycle
from roamcard.voucher.states import RangeAction
from tests.dealer.support import dealer_row, make_dealer
from tests.factories import make_card, make_catalog
from tests.voucher.support import liability, make_batch

SIZE = 6
FACE = 1000
index = st.integers(0, SIZE - 1)
operation = st.one_of(
    st.tuples(st.just("activate"), index, index),
    st.tuples(st.just("block"), index, index),
    st.tuples(st.just("redeem"), index),
    st.tuples(st.just("sell"), index),
    st.tuples(st.just("advance"), st.integers(1, 6)),
)
LIVE = ("generated", "active")


class TestVoucherInvariants:
    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(operation, min_size=1, max_size=10))
    def test_liability_is_the_face_value_of_active_vouchers(
        self, database: Database, operations: list[tuple[str | int, ...]]
    ) -> None:
        frozen = clock.FrozenClock()
        clock.set_clock(frozen)
        try:
            self.run(database, operations, frozen)
        finally:
            clock.reset_clock()

    def run(
        self, database: Database, operations: list[tuple[str | int, ...]], frozen: clock.FrozenClock
    ) -> None:
        with database.transaction() as session:
            make_catalog(session)
            card = make_card(session)
        made = make_batch(database, count=SIZE, face_value=FACE, activate=False, expires_in_days=10)
        dealer = dealer_row(database, make_dealer(database, commission_bps=250, float_amount=SIZE * FACE))
        with database.reading() as session:
            expires_at = lifecycle.get_batch(session, made.name).expires_at
        model = ["generated"] * SIZE
        for op in operations:
            kind = op[0]
            expired = frozen() >= expires_at
            if kind in ("activate", "block"):
                low, high = sorted((int(op[1]), int(op[2])))
                action = RangeAction(kind)
                with database.transaction() as session, suppress(lifecycle.BatchProblem):
                    batch = lifecycle.get_batch(session, made.name)
                    first, last = made.serials[low], made.serials[high]
                    lifecycle.change_range(session, batch, action, first, last, actor="hypothesis")
                    for i in range(low, high + 1):
                        if kind == "activate" and model[i] == "generated" and not expired:
                            model[i] = "active"
                        if kind == "block" and model[i] in LIVE:
                            model[i] = "blocked"
            elif kind == "redeem":
                i = int(op[1])
                with database.transaction() as session, suppress(AppError):
                    voucher_service.redeem(
                        session, card, made.pin(i), channel=Channel.VOUCHER, client_key=secrets.token_hex(4)
                    )
                if model[i] == "active" and not expired:
                    model[i] = "redeemed"
            elif kind == "sell":
                i = int(op[1])
                with database.transaction() as session, suppress(AppError):
                    sales.sell_voucher(
                        session, dealer, external_id=secrets.token_hex(6), serial=made.serials[i]
                    )
                if model[i] == "generated" and not expired:
                    model[i] = "active"
            else:
                frozen.advance(days=int(op[1]))
                while True:
                    with database.transaction() as session:
                        if not lifecycle.expire_lapsed(session, limit=2):
                            break
                if frozen() >= expires_at:
                    model = ["expired" if status in LIVE else status for status in model]

            with database.reading() as session:
                found = {
                    v.id: v.status
                    for v in session.scalars(select(Voucher).where(Voucher.batch_id == made.id))
                }
                assert [found[s] for s in made.serials] == model, op
                assert ledger.verify(session).ok
                active_value = repository.active_face_value_by_currency(session).get("USD", 0)
            assert liability(database) == active_value  # every batch so far, this one as modelled
