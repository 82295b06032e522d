from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session

from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit import clock
from roamcard.ledger import service as ledger
from roamcard.models import Job, Payment, TopupOrder
from roamcard.payment import providers
from roamcard.payment.providers.base import Checkout, GatewayUnavailable, RemoteStatus
from roamcard.topup.service.create import create_topup
from tests.factories import make_card, make_catalog


@dataclass
class FlakyGateway:
    """A remote gateway that times out on create, then answers queries from a script."""

    name: str = "flaky"
    answers: list[RemoteStatus | None] = field(default_factory=list)  # None = time out again
    queries: int = 0

    def create_checkout(self, session: Session, payment: Payment) -> Checkout:
        raise GatewayUnavailable("read timeout")

    def query(self, session: Session, payment: Payment) -> RemoteStatus:
        self.queries += 1
        answer = self.answers.pop(0)
        if answer is None:
            raise GatewayUnavailable("503 from gateway")
        return answer

    def close(self, session: Session, payment: Payment) -> None:
        pass


def open_with(database: Database, gateway: FlakyGateway) -> tuple[int, str]:
    providers.get_provider("sandbox")
    providers.register(gateway)  # type: ignore[arg-type]
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        order, _ = create_topup(
            session, card, product_id="balance-10", currency="USD", payment_method="flaky"
        )
        return card.id, order.id


def status_of(database: Database, order_id: str) -> tuple[str, str]:
    with database.reading() as session:
        order = session.get(TopupOrder, order_id)
        assert order is not None
        payment = session.query(Payment).filter_by(order_id=order_id).one()
        return order.status, payment.status


class TestUnknownIsNeverFailed:
    def test_timeout_on_create_leaves_it_unknown(self, database: Database) -> None:
        _, order_id = open_with(database, FlakyGateway())
        assert status_of(database, order_id) == ("unknown", "unknown")

    @pytest.mark.parametrize(
        ("answers", "expected", "balance"),
        [
            ([None, None, RemoteStatus.SUCCEEDED], ("fulfilled", "succeeded"), 1000),
            ([None, RemoteStatus.FAILED], ("failed", "failed"), 0),
            ([RemoteStatus.NOT_FOUND], ("failed", "failed"), 0),
            ([RemoteStatus.PENDING], ("pending_payment", "pending"), 0),
        ],
    )
    def test_sweeper_queries_until_the_gateway_settles_it(
        self,
        database: Database,
        frozen_clock: clock.FrozenClock,
        answers: list[RemoteStatus | None],
        expected: tuple[str, str],
        balance: int,
    ) -> None:
        gateway = FlakyGateway(answers=list(answers))
        card_id, order_id = open_with(database, gateway)
        worker = build_worker(database)
        for _ in range(len(answers)):
            frozen_clock.advance(hours=2)  # past the first delay and any backoff
            worker.drain()
            if answers and status_of(database, order_id)[1] == "unknown":
                assert status_of(database, order_id)[0] == "unknown"
        assert gateway.queries == len(answers)
        assert status_of(database, order_id) == expected
        with database.reading() as session:
            assert ledger.wallet_account(session, card_id, "USD").balance == balance
            assert session.query(Job).filter_by(kind="payment.settle_unknown", status="done").count() == 1
            assert ledger.verify(session).ok
