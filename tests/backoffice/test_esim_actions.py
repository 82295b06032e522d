"""The back office's eSIM actions (issue 13): a supervisor reissues a profile in error or deleted (at most
3 times per card, each profile at most once, also under parallel attempts) and cancels an undelivered card
order, whose refund finance approves; provisional cards stay out of the search."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from roamcard.db import Database, attempt
from roamcard.esim.service import reissue as esim_reissue
from roamcard.jobs.sweepers import build_worker
from roamcard.models import Card, CardOrder, EsimProfile, Notification, Refund
from tests.backoffice.console import audit_entries, csrf, make_staff, sign_in
from tests.card_order.test_card_orders import create, pay, read, stock

EN = {"Accept-Language": "en"}


def bought_card(client: TestClient, database: Database, profiles: int = 1) -> tuple[dict[str, Any], str]:
    """A card bought online and paid (its profile allocated, never installed); its card number."""
    stock(database, profiles)
    order = create(client).json()
    pay(client, database, order)
    done = read(client, order).json()
    assert done["status"] == "fulfilled"
    return order, done["card"]["card_number"]


def profile_of(database: Database, card_number: str) -> EsimProfile:
    with database.reading() as session:
        card = session.scalars(select(Card).where(Card.card_number == card_number)).one()
        return session.scalars(
            select(EsimProfile)
            .where(EsimProfile.card_id == card.id, EsimProfile.status != "retired")
            .order_by(EsimProfile.id.desc())
        ).first()  # type: ignore[return-value]


def fail_current(database: Database, card_number: str, status: str = "error") -> None:
    with database.transaction() as session:
        profile = profile_of(database, card_number)
        session.execute(update(EsimProfile).where(EsimProfile.id == profile.id).values(status=status))


def act(client: TestClient, card_number: str, action: str, reason: str = "stuck at download") -> Any:
    token = csrf(client.get(f"/admin/cards/{card_number}", headers=EN).text)
    return client.post(
        f"/admin/cards/{card_number}/{action}",
        data={"csrf_token": token, "reason": reason},
        headers=EN,
        follow_redirects=False,
    )


class TestReissue:
    def test_a_supervisor_reissues_a_profile_in_error_the_card_keeps_its_number(
        self, client: TestClient, database: Database
    ) -> None:
        _, number = bought_card(client, database, profiles=2)
        old = profile_of(database, number)
        fail_current(database, number)
        sign_in(client, *make_staff(database, "supervisor"))
        page = client.get(f"/admin/cards/{number}", headers=EN).text
        assert 'id="esim-reissue"' in page
        answer = act(client, number, "esim/reissue")
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].endswith("?done=reissued")
        new = profile_of(database, number)
        assert new.iccid != old.iccid
        assert new.replaces_profile_id == old.id
        assert new.status == "allocated"
        with database.reading() as session:
            retired = session.get(EsimProfile, old.id)
            assert retired is not None
            assert retired.status == "retired"
            card = session.scalars(select(Card).where(Card.card_number == number)).one()
            assert card.card_number == old.iccid  # the number never changes
            sms = session.scalars(select(Notification).where(Notification.template == "esim_reissued")).all()
            assert len(sms) == 1
        [entry] = audit_entries(database, "esim.reissue")
        assert entry.after == {"old_iccid": old.iccid, "iccid": new.iccid, "reissues": 1}
        assert entry.reason == "stuck at download"

    def test_an_agent_may_not_and_a_working_profile_is_not_reissued(
        self, client: TestClient, database: Database
    ) -> None:
        _, number = bought_card(client, database, profiles=2)
        sign_in(client, *make_staff(database, "supervisor"))
        refused = act(client, number, "esim/reissue")
        assert refused.status_code == 409
        assert "Only a profile in error" in refused.text
        assert profile_of(database, number).status == "allocated"
        [failed] = audit_entries(database, "esim.reissue.failed")
        assert failed.after == {"error": "esim_not_reissuable"}
        client.cookies.clear()
        fail_current(database, number, "deleted")
        sign_in(client, *make_staff(database, "agent"))
        assert 'id="esim-reissue"' not in client.get(f"/admin/cards/{number}", headers=EN).text
        assert act(client, number, "esim/reissue").status_code == 403
        assert profile_of(database, number).status == "deleted"

    def test_at_most_three_times_per_card(self, client: TestClient, database: Database) -> None:
        _, number = bought_card(client, database, profiles=6)
        sign_in(client, *make_staff(database, "supervisor"))
        for _ in range(3):
            fail_current(database, number)
            assert act(client, number, "esim/reissue").status_code == 303
        fail_current(database, number)
        refused = act(client, number, "esim/reissue")
        assert refused.status_code == 409
        assert "3 times" in refused.text
        assert profile_of(database, number).status == "error"  # nothing changed

    def test_an_empty_stock_changes_nothing(self, client: TestClient, database: Database) -> None:
        _, number = bought_card(client, database, profiles=1)
        fail_current(database, number)
        sign_in(client, *make_staff(database, "supervisor"))
        assert act(client, number, "esim/reissue").status_code == 409
        assert profile_of(database, number).status == "error"  # the old profile was not retired


class TestParallelReissue:
    def test_parallel_attempts_at_most_three_each_profile_once(
        self, client: TestClient, database: Database
    ) -> None:
        _, number = bought_card(client, database, profiles=12)
        won: list[str] = []
        errors: list[BaseException] = []
        for _round in range(4):
            fail_current(database, number)
            barrier = threading.Barrier(4)

            def attempt_once(barrier: threading.Barrier = barrier) -> None:
                try:
                    barrier.wait()
                    with database.transaction() as session:
                        card = session.scalars(select(Card).where(Card.card_number == number)).one()
                        with attempt(session):
                            won.append(esim_reissue.reissue(session, card, reason="race").new_iccid)
                except (esim_reissue.EsimNotReissuable, esim_reissue.EsimReissueLimit):
                    pass
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=attempt_once) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        assert len(won) == 3  # one per round, and the fourth round refused
        assert len(set(won)) == 3
        with database.reading() as session:
            card = session.scalars(select(Card).where(Card.card_number == number)).one()
            profiles = session.scalars(select(EsimProfile).where(EsimProfile.card_id == card.id)).all()
            replaced = [p.replaces_profile_id for p in profiles if p.replaces_profile_id is not None]
            assert len(replaced) == len(set(replaced)) == 3
            assert sorted(p.status for p in profiles) == ["error", "retired", "retired", "retired"]


class TestCancelAnUndeliveredOrder:
    def test_supervisor_cancels_finance_approves_the_refund(
        self, client: TestClient, database: Database
    ) -> None:
        order, number = bought_card(client, database)
        sign_in(client, *make_staff(database, "supervisor"))
        assert 'id="card-order-cancel"' in client.get(f"/admin/cards/{number}", headers=EN).text
        answer = act(client, number, "card-order/cancel", "never arrived on the phone")
        assert answer.status_code == 303, answer.text
        with database.reading() as session:
            stored = session.get(CardOrder, order["id"])
            assert stored is not None
            assert stored.status == "cancelled"
            assert stored.refund_id is not None
            refund = session.get(Refund, stored.refund_id)
            assert refund is not None
            assert (refund.status, refund.kind, refund.amount) == ("requested", "card_cancelled", 7200)
            card = session.scalars(select(Card).where(Card.card_number == number)).one()
            assert card.status == "closed"
        assert profile_of(database, number) is None  # retired: its code was shown, never sold again
        assert read(client, order).json()["status"] == "cancelled"
        [entry] = audit_entries(database, "card_order.cancel")
        assert entry.after["refund_id"] == refund.id  # type: ignore[index]

        # A supervisor cannot decide it; finance does, as every refund.
        assert client.get("/admin/refunds", headers=EN).status_code == 403
        token = csrf(client.get(f"/admin/cards/{number}", headers=EN).text)
        decided = client.post(
            f"/admin/refunds/{refund.id}/decide",
            data={"csrf_token": token, "decision": "approve", "reason": "ok"},
            headers=EN,
            follow_redirects=False,
        )
        assert decided.status_code == 403
        client.cookies.clear()
        sign_in(client, *make_staff(database, "finance"))
        queue = client.get("/admin/refunds", headers=EN).text
        assert refund.id in queue
        token = csrf(queue)
        decided = client.post(
            f"/admin/refunds/{refund.id}/decide",
            data={"csrf_token": token, "decision": "approve", "reason": "card never installed"},
            headers=EN,
            follow_redirects=False,
        )
        assert decided.status_code == 303, decided.text
        build_worker(database).drain()
        with database.reading() as session:
            assert session.get(Refund, refund.id).status in ("processing", "succeeded")  # type: ignore[union-attr]

    def test_an_installed_card_is_not_cancelled(self, client: TestClient, database: Database) -> None:
        _, number = bought_card(client, database)
        fail_current(database, number, "installed")
        sign_in(client, *make_staff(database, "supervisor"))
        assert 'id="card-order-cancel"' not in client.get(f"/admin/cards/{number}", headers=EN).text
        refused = act(client, number, "card-order/cancel")
        assert refused.status_code == 409
        with database.reading() as session:
            assert session.scalars(select(Refund)).all() == []
            assert session.scalars(select(Card).where(Card.card_number == number)).one().status == "active"


class TestProvisionalCards:
    def test_an_unpaid_orders_card_is_not_found_by_phone_and_is_marked(
        self, client: TestClient, database: Database
    ) -> None:
        stock(database, 1)
        create(client)
        sign_in(client, *make_staff(database, "agent"))
        found = client.get("/admin", params={"q": "+8613800138000"}, headers=EN)
        assert found.status_code == 200
        assert "/admin/cards/o" not in found.text
        with database.reading() as session:
            provisional = session.scalars(select(Card).where(Card.status == "ordered")).one()
        page = client.get(f"/admin/cards/{provisional.card_number}", headers=EN).text
        assert 'data-testid="provisional"' in page


class TestACancelledCardsRefundThatIsNotPaid:
    """The gateway refuses a cancelled card's refund, or finance rejects it: the buyer has a closed card
    and no money. The refund goes on finance's "needs attention" list (and its metric) with the value held
    on the closed card, where nobody can spend it; finance retries it once, as a new refund it approves."""

    def _cancelled(self, client: TestClient, database: Database) -> tuple[str, Refund, int]:
        order, number = bought_card(client, database)
        sign_in(client, *make_staff(database, "supervisor"))
        assert act(client, number, "card-order/cancel", "never arrived").status_code == 303
        client.cookies.clear()
        with database.reading() as session:
            stored = session.get(CardOrder, order["id"])
            refund = session.get(Refund, stored.refund_id)  # type: ignore[union-attr]
            card = session.scalars(select(Card).where(Card.card_number == number)).one()
            assert refund is not None
        return number, refund, card.id

    def _value(self, database: Database, card_id: int) -> int:
        from roamcard.ledger import service as ledger

        with database.reading() as session:
            card = session.get(Card, card_id)
            assert card is not None
            return ledger.wallet_account(session, card_id, card.currency).balance

    def _retry_and_pay(self, client: TestClient, database: Database, refund: Refund, card_id: int) -> None:
        from tests.payment.flows import books_balance, drain
        from tests.refund.test_attention import attention_metric, retry

        assert attention_metric(client, "card_cancelled_unpaid") == "1.0"
        sign_in(client, *make_staff(database, "finance"))
        page = client.get("/admin/refunds", headers=EN).text
        assert refund.id in page
        assert "A cancelled card&#39;s refund was refused or rejected" in page
        assert retry(client, refund.id, "paid back after all").status_code == 303  # type: ignore[attr-defined]
        drain(database)
        with database.reading() as session:
            [again] = session.scalars(select(Refund).where(Refund.retry_of == refund.id)).all()
            assert (again.kind, again.status, again.amount) == ("card_cancelled", "succeeded", refund.amount)
            card = session.get(Card, card_id)
            assert card is not None
            assert card.status == "closed"
        assert self._value(database, card_id) == 0
        assert attention_metric(client, "card_cancelled_unpaid") == "0.0"
        assert refund.id not in client.get("/admin/refunds", headers=EN).text
        assert retry(client, refund.id).status_code == 409  # type: ignore[attr-defined]  # once only
        [entry] = audit_entries(database, "refund.retried")
        assert entry.after == {"problem": "card_cancelled_unpaid", "refund_id": again.id}
        assert books_balance(database)

    def test_a_refund_the_gateway_refuses_is_listed_and_retried(
        self, client: TestClient, database: Database, monkeypatch: Any
    ) -> None:
        from roamcard.payment import providers
        from roamcard.payment.providers.base import RefundOutcome, RemoteRefund
        from roamcard.refund import service as refunds
        from tests.payment.flows import books_balance, drain

        number, refund, card_id = self._cancelled(client, database)
        value = self._value(database, card_id)
        assert value > 0  # the starter's balance (its refund is the price paid, 7200)
        sandbox = providers.get_provider("sandbox")
        real = sandbox.refund
        monkeypatch.setattr(
            sandbox, "refund", lambda session, request: RemoteRefund(RefundOutcome.FAILED, detail="closed")
        )
        with database.transaction() as session:
            refunds.approve(session, refund.id, staff_ref="staff:9", reason="never installed")
        drain(database)
        with database.reading() as session:
            assert session.get(Refund, refund.id).status == "failed"  # type: ignore[union-attr]
        assert self._value(database, card_id) == value  # held on the closed card
        assert books_balance(database)
        monkeypatch.setattr(sandbox, "refund", real)
        self._retry_and_pay(client, database, refund, card_id)
        assert number

    def test_a_refund_finance_rejected_is_listed_and_retried(
        self, client: TestClient, database: Database
    ) -> None:
        from roamcard.refund import service as refunds

        _number, refund, card_id = self._cancelled(client, database)
        with database.transaction() as session:
            refunds.reject(session, refund.id, staff_ref="staff:9", reason="looks used")
        assert self._value(database, card_id) > 0  # left on the closed card
        self._retry_and_pay(client, database, refund, card_id)
