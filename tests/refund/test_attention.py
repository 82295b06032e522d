"""Refunds that fail silently no more (issue 9 item 12), against the fake Stripe (which answers as Stripe
does: idempotency keys replayed for 24 hours, 400 charge_already_refunded for a charge refunded already):

* a refusal on a *retry* is checked with a query first (the lost first attempt may have paid it back);
* a refund whose job died, and a late-payment refund the gateway refused, are listed under "needs
  attention" in the back office, counted on /metrics, and finance retries them (audited).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.kit import clock
from roamcard.models import Job, Notification, Refund
from roamcard.refund import service as refunds
from tests.backoffice.console import audit_entries, csrf, make_staff, sign_in
from tests.payment.flows import books_balance, count, drain, order_topup, payment_of, signed_in, wallet
from tests.payment.gateways import FakeStripe, installed

EN = {"Accept-Language": "en"}


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with installed(FakeStripe()) as fake:
        yield fake


def paid_by_card(
    database: Database, client: TestClient, stripe_api: FakeStripe
) -> tuple[int, dict[str, str], str]:
    card_id, auth = signed_in(database, client)
    order_id = order_topup(client, auth, "card", currency="USD").json()["id"]
    payment = payment_of(database, order_id)
    completed = stripe_api.event("checkout.session.completed", stripe_api.pay(payment.id))
    response = client.post("/webhooks/stripe", content=completed, headers=stripe_api.headers(completed))
    assert response.status_code == 200
    drain(database)
    assert wallet(database, card_id) == 1000
    return card_id, auth, order_id


def approved_refund(database: Database, client: TestClient, auth: dict[str, str], order_id: str) -> str:
    asked = client.post(
        f"/api/v1/topups/{order_id}/refunds",
        json={"reason": "Trip cancelled"},
        headers={**auth, "Idempotency-Key": "r1"},
    )
    assert asked.status_code == 201, asked.text
    with database.transaction() as session:
        refunds.approve(session, asked.json()["id"], staff_ref="staff:1", reason="unused")
    return str(asked.json()["id"])


def refund_row(database: Database, refund_id: str) -> Refund:
    with database.reading() as session:
        refund = session.get(Refund, refund_id)
        assert refund is not None
        session.expunge(refund)
        return refund


def drain_until_dead(database: Database, frozen_clock: clock.FrozenClock, kind: str) -> None:
    for _ in range(12):
        drain(database)
        frozen_clock.advance(hours=2)
    with database.reading() as session:
        assert session.scalars(select(Job.status).where(Job.kind == kind)).one() == "dead"


def attention_metric(client: TestClient, problem: str) -> str:
    prefix = f'roamcard_refunds_needing_attention{{problem="{problem}"}} '
    [line] = [line for line in client.get("/metrics").text.splitlines() if line.startswith(prefix)]
    return line.removeprefix(prefix)


def retry(client: TestClient, refund_id: str, reason: str = "gateway is back") -> object:
    token = csrf(client.get("/admin/refunds", headers=EN).text)
    return client.post(
        f"/admin/refunds/{refund_id}/retry",
        data={"csrf_token": token, "reason": reason},
        headers=EN,
        follow_redirects=False,
    )


class TestRetryRefusal:
    def test_a_refusal_on_a_retry_is_queried_before_the_refund_is_failed(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth, order_id = paid_by_card(database, client, stripe_api)
        refund_id = approved_refund(database, client, auth, order_id)
        assert wallet(database, card_id) == 0
        stripe_api.lose_answers = True  # Stripe refunds it; its answer never arrives
        drain(database)
        assert refund_row(database, refund_id).status == "processing"
        assert [r["status"] for r in stripe_api.refunds.values()] == ["succeeded"]
        stripe_api.lose_answers = False
        stripe_api.forget_idempotency_keys()  # the retry comes more than 24 hours later
        frozen_clock.advance(hours=25)
        drain(database)  # the create is refused (charge_already_refunded); the query finds ours

        refund = refund_row(database, refund_id)
        assert refund.status == "succeeded"
        assert refund.provider_reference == next(iter(stripe_api.refunds))
        assert stripe_api.calls.count("POST /v1/refunds") == 2
        assert "GET /v1/refunds" in stripe_api.calls
        assert wallet(database, card_id) == 0  # the card does not get back what was paid back
        assert count(database, Notification, Notification.template == "refund_failed") == 0
        assert count(database, Notification, Notification.template == "refund_succeeded") == 1
        assert books_balance(database)

    def test_a_refusal_on_a_retry_that_the_query_confirms_fails_the_refund(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth, order_id = paid_by_card(database, client, stripe_api)
        refund_id = approved_refund(database, client, auth, order_id)
        stripe_api.down = True
        drain(database)  # no answer: the job retries
        stripe_api.down = False
        stripe_api.refuse_refunds = "charge_disputed"
        frozen_clock.advance(hours=1)
        drain(database)
        assert refund_row(database, refund_id).status == "failed"
        assert stripe_api.refunds == {}
        assert wallet(database, card_id) == 1000  # the value is back on the card
        assert books_balance(database)


class TestNeedsAttention:
    def test_a_refund_whose_job_died_is_listed_counted_and_retried_by_finance(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        card_id, auth, order_id = paid_by_card(database, client, stripe_api)
        refund_id = approved_refund(database, client, auth, order_id)
        stripe_api.down = True
        drain_until_dead(database, frozen_clock, "refund.submit")
        assert refund_row(database, refund_id).status == "processing"
        assert attention_metric(client, "job_dead") == "1.0"

        member, secret = make_staff(database, "finance")
        sign_in(client, member, secret)
        page = client.get("/admin/refunds", headers=EN).text
        assert refund_id in page
        assert "Its gateway job stopped retrying" in page

        stripe_api.down = False
        answer = retry(client, refund_id)
        assert answer.headers["location"] == "/admin/refunds?done=retried"  # type: ignore[attr-defined]
        assert attention_metric(client, "job_dead") == "0.0"
        drain(database)
        assert refund_row(database, refund_id).status == "succeeded"
        assert wallet(database, card_id) == 0
        [entry] = audit_entries(database, "refund.retried")
        assert (entry.target_id, entry.card_id, entry.reason) == (refund_id, card_id, "gateway is back")
        assert entry.before == {"status": "processing", "kind": "customer", "amount": 1000}
        assert entry.after is not None
        assert (entry.after["problem"], entry.after["refund_id"]) == ("job_dead", refund_id)
        assert refund_id not in client.get("/admin/refunds", headers=EN).text
        assert books_balance(database)

    def test_a_failed_late_payment_refund_is_listed_and_retried_once_as_a_new_refund(
        self, database: Database, client: TestClient, stripe_api: FakeStripe
    ) -> None:
        _card_id, _auth, order_id = paid_by_card(database, client, stripe_api)
        payment = payment_of(database, order_id)
        stripe_api.refuse_refunds = "charge_disputed"
        with database.transaction() as session:
            late = refunds.refund_late_payment(session, payment.id)
            assert late is not None
            late_id = late.id
        drain(database)
        assert refund_row(database, late_id).status == "failed"
        assert attention_metric(client, "late_payment_failed") == "1.0"

        sign_in(client, *make_staff(database, "finance"))
        page = client.get("/admin/refunds", headers=EN).text
        assert late_id in page
        assert "The gateway refused to refund a late payment" in page

        stripe_api.refuse_refunds = None
        retry(client, late_id, "dispute closed in our favour")
        drain(database)
        with database.reading() as session:
            [retried] = session.scalars(select(Refund).where(Refund.retry_of == late_id)).all()
            assert (retried.kind, retried.status, retried.amount) == ("late_payment", "succeeded", 1000)
        assert [r["metadata"]["refund_id"] for r in stripe_api.refunds.values()] == [retried.id]
        assert attention_metric(client, "late_payment_failed") == "0.0"
        assert late_id not in client.get("/admin/refunds", headers=EN).text

        again = retry(client, late_id)
        assert again.status_code == 409  # type: ignore[attr-defined]
        [failed] = audit_entries(database, "refund.retried.failed")
        assert failed.after == {"error": "refund_not_retryable"}
        assert books_balance(database)

    def test_an_agent_cannot_retry(
        self, database: Database, client: TestClient, stripe_api: FakeStripe, frozen_clock: clock.FrozenClock
    ) -> None:
        _card_id, auth, order_id = paid_by_card(database, client, stripe_api)
        refund_id = approved_refund(database, client, auth, order_id)
        stripe_api.down = True
        drain_until_dead(database, frozen_clock, "refund.submit")
        sign_in(client, *make_staff(database, "agent"))
        token = csrf(client.get("/admin", headers=EN).text)
        answer = client.post(f"/admin/refunds/{refund_id}/retry", data={"csrf_token": token, "reason": "x"})
        assert answer.status_code == 403
        with database.reading() as session:
            assert session.scalars(select(Job.status).where(Job.kind == "refund.submit")).one() == "dead"
