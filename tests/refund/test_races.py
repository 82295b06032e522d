"""Refund decisions race on the real database (threads, both engines): every request and every approval
locks the order first, so N parallel requests make one refund and parallel approvals approve one."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.jobs.outbox import QUEUED
from roamcard.ledger import service as ledger
from roamcard.models import Card, Job, LedgerTransfer, Refund
from roamcard.refund import service as refunds
from tests.payment.flows import books_balance, count, signed_in, wallet
from tests.payment.test_sandbox_webhook import run_in_parallel
from tests.refund.test_refunds import paid_with_sandbox

PARALLEL = 6


def _request(database: Database, card_id: int, order_id: str, amount: int | None = None) -> Refund:
    with database.transaction() as session:
        card = session.get(Card, card_id)
        assert card is not None
        return refunds.request_refund(session, card, order_id, amount=amount, reason="Trip cancelled")


def _approve(database: Database, refund_id: str) -> Refund:
    with database.transaction() as session:
        return refunds.approve(session, refund_id, staff_ref="staff:1", reason="unused")


class TestParallelRequests:
    def test_parallel_full_refund_requests_make_one_refund_which_can_be_approved(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        results = run_in_parallel(PARALLEL, lambda _: _request(database, card_id, order_id))
        made = [r for r in results if isinstance(r, Refund)]
        refused = [r for r in results if not isinstance(r, Refund)]
        assert len(made) == 1, results
        assert all(isinstance(r, refunds.TopupNotRefundable) for r in refused), refused
        assert count(database, Refund) == 1
        assert _approve(database, made[0].id).status == "approved"  # not refund_no_longer_available
        assert wallet(database, card_id) == 0
        assert books_balance(database)

    def test_parallel_partial_requests_never_ask_for_more_than_the_order(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        results = run_in_parallel(PARALLEL, lambda _: _request(database, card_id, order_id, amount=400))
        assert len([r for r in results if isinstance(r, Refund)]) == 2, results  # 2 × 400 of 1000
        with database.reading() as session:
            assert sum(session.scalars(select(Refund.amount))) == 800


class TestParallelApprovals:
    def test_parallel_approvals_of_one_refund_approve_it_once(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        refund = _request(database, card_id, order_id)
        results = run_in_parallel(PARALLEL, lambda _: _approve(database, refund.id))
        approved = [r for r in results if isinstance(r, Refund)]
        assert len(approved) == 1, results
        assert all(isinstance(r, refunds.RefundNotPending) for r in results if r not in approved)
        assert wallet(database, card_id) == 0
        assert count(database, LedgerTransfer, LedgerTransfer.reason == "refund") == 1
        assert count(database, Job, Job.kind == "refund.submit", Job.status == QUEUED) == 1
        assert books_balance(database)

    def test_parallel_approvals_of_two_refunds_the_card_can_pay_only_one_of(
        self, database: Database, client: TestClient
    ) -> None:
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, currency="USD")
        first = _request(database, card_id, order_id, amount=400)
        second = _request(database, card_id, order_id, amount=600)
        with database.transaction() as session:  # the card spends $3: 700 left, not enough for both
            ledger.transfer(
                session,
                key="usage:race",
                debit=ledger.wallet_account(session, card_id, "USD"),
                credit=ledger.operator_account(session, "usage", "USD"),
                amount=300,
                reason="usage",
            )
        ids = [first.id, second.id] * (PARALLEL // 2)
        results = run_in_parallel(len(ids), lambda index: _approve(database, ids[index]))
        approved = {r.id for r in results if isinstance(r, Refund)}
        assert len(approved) == 1, results
        assert wallet(database, card_id) == 700 - (400 if approved == {first.id} else 600)
        assert books_balance(database)
