"""The sandbox gateway's approve/decline is bound to the payment it was opened for by a signed,
single-use link: knowing a payment id is not enough, and a link decides once."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.models import SandboxCharge, StateTransition
from roamcard.payment.repository import NewPayment
from roamcard.signed_link import service as signed_links
from roamcard.topup.service.create import create_topup
from tests.factories import make_card, make_catalog


def opened(database: Database) -> NewPayment:
    with database.transaction() as session:
        make_catalog(session)
        card = make_card(session)
        _, payment = create_topup(
            session, card, product_id="balance-10", currency="USD", payment_method="sandbox"
        )
        return payment


def charge_status(database: Database, payment: NewPayment) -> str:
    with database.reading() as session:
        return session.scalars(
            select(SandboxCharge.status).where(SandboxCharge.reference == payment.id)
        ).one()


class TestSignedCheckoutLink:
    def test_the_link_approves_once_and_the_charge_keeps_its_history(
        self, database: Database, client: TestClient
    ) -> None:
        payment = opened(database)
        assert payment.checkout_url is not None
        path = urlsplit(payment.checkout_url).path
        assert payment.id not in path
        assert client.get(path).status_code == 200
        first = client.post(path, data={"decision": "approve"}, follow_redirects=False)
        assert first.status_code == 303
        again = client.post(path, data={"decision": "decline"}, follow_redirects=False)
        assert again.status_code == 410
        assert charge_status(database, payment) == "approved"
        assert "already been approved" in client.get(path, headers={"Accept-Language": "en"}).text
        with database.reading() as session:
            history = session.scalars(
                select(StateTransition.to_status)
                .where(StateTransition.entity_type == "sandbox_charge")
                .order_by(StateTransition.id)
            ).all()
        assert list(history) == ["open", "approved"]

    def test_the_payment_id_alone_approves_nothing(self, database: Database, client: TestClient) -> None:
        payment = opened(database)
        refused = client.post(
            f"/sandbox/checkout/{payment.id}", data={"decision": "approve"}, follow_redirects=False
        )
        assert refused.status_code == 403
        assert charge_status(database, payment) == "open"

    def test_a_forged_or_foreign_link_is_refused(self, database: Database, client: TestClient) -> None:
        payment = opened(database)
        assert payment.checkout_url is not None
        token = urlsplit(payment.checkout_url).path.rsplit("/", 1)[1]
        link_id, key_id, digest = token.split(".")
        tampered = f"{link_id}.{key_id}.{'0' * len(digest)}"
        for bad in (tampered, f"{link_id}.{key_id}"):
            answer = client.post(
                f"/sandbox/checkout/{bad}", data={"decision": "approve"}, follow_redirects=False
            )
            assert answer.status_code == 403
        # A payment link (another purpose) does not open the sandbox's decision either.
        with database.transaction() as session:
            other = signed_links.issue(session, "payment-link", payment.id, payment.expires_at)  # type: ignore[arg-type]
        answer = client.post(
            f"/sandbox/checkout/{other}", data={"decision": "approve"}, follow_redirects=False
        )
        assert answer.status_code == 403
        assert charge_status(database, payment) == "open"
