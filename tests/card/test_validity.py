"""The card's own lifecycle (保号): validity per recharge, reminders, expiry, grace, closure, quarantine.
Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from roamcard.card import closure
from roamcard.card.states import CardStatus
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.esim.service import inventory
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import Asset
from roamcard.models import (
    Allowance,
    Card,
    EsimProfile,
    LedgerAccount,
    Notification,
    Refund,
    StateTransition,
    TopupOrder,
)
from roamcard.topup.service import prepaid
from roamcard.topup.states import Channel
from tests.charging.helpers import (
    DATA,
    US,
    VOICE,
    ask,
    charging_request,
    credit_balance,
    element_key,
    give_pack,
    subscriber,
    verify_ok,
)
from tests.factories import make_iccid
from tests.payment.flows import signed_in
from tests.refund.test_refunds import paid_with_sandbox

DAY = timedelta(days=1)
BASE = "/nchf-convergedcharging/v3/chargingdata"


def card_of(database: Database, card_id: int) -> Card:
    with database.reading() as session:
        card = session.get(Card, card_id)
        assert card is not None
        session.expunge(card)
        return card


def recharge(database: Database, card_id: int, product_id: str = "balance-30") -> None:
    """A recharge through the path vouchers, dealers and partners take: a paid order, then the one
    fulfilment every channel shares."""
    with database.tx() as tx:
        row = tx.one(
            "SELECT kind, name_en, name_zh, grants, validity_days FROM products WHERE id = :id", id=product_id
        )
        assert row is not None
        card = card_of(database, card_id)
        item = prepaid.PrepaidItem(
            product_id=product_id,
            product_kind=row[0],
            name_en=row[1],
            name_zh=row[2],
            grants=tx.loads(row[3]),
            validity_days=row[4],
            price=Money(1000, "USD"),
        )
        order = prepaid.open_paid_order(
            tx, card, item, channel=Channel.POS, payment_method="voucher", paid_by="test"
        )
        prepaid.fulfil_now(tx, order, card)


def set_validity(database: Database, card_id: int, until: datetime) -> None:
    with database.transaction() as session:
        session.execute(update(Card).where(Card.id == card_id).values(valid_until=until))


def sweep(database: Database) -> int:
    with database.transaction() as session:
        return closure.sweep(session)


def history(database: Database, card_id: int) -> list[tuple[str | None, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(StateTransition.from_status, StateTransition.to_status)
            .where(StateTransition.entity_type == "card", StateTransition.entity_id == str(card_id))
            .order_by(StateTransition.id)
        ).all()
    return [(r[0], r[1]) for r in rows]


def reminders(database: Database, card_id: int) -> list[Notification]:
    with database.reading() as session:
        found = list(
            session.scalars(
                select(Notification)
                .where(Notification.card_id == card_id, Notification.template == "validity_reminder")
                .order_by(Notification.id)
            )
        )
        for item in found:
            session.expunge(item)
        return found


def _unit(body: dict[str, Any]) -> dict[str, Any]:
    return body["multipleUnitInformation"][0]


def _charge(client: TestClient, key: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(BASE, json=body, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 201, answer.text
    return answer.json()


class TestValidityPerRecharge:
    def test_a_new_card_is_valid_for_the_initial_period(self, database: Database, frozen_clock: Any):
        sub = subscriber(database)
        until = card_of(database, sub.card_id).valid_until
        assert until == clock.now() + timedelta(days=get_settings().card_initial_validity_days)

    def test_a_shared_path_recharge_extends_from_the_current_date(
        self, database: Database, frozen_clock: Any
    ):
        sub = subscriber(database)
        before = card_of(database, sub.card_id).valid_until
        assert before is not None
        recharge(database, sub.card_id, "balance-30")  # validity_days_per_recharge = 180 in the catalogue
        assert card_of(database, sub.card_id).valid_until == before + timedelta(days=180)
        recharge(database, sub.card_id, "balance-10")  # 90
        assert card_of(database, sub.card_id).valid_until == before + timedelta(days=270)

    def test_a_recharge_after_the_date_extends_from_now(self, database: Database, frozen_clock: Any):
        sub = subscriber(database)
        set_validity(database, sub.card_id, clock.now() - 3 * DAY)
        recharge(database, sub.card_id, "balance-50")  # 365
        assert card_of(database, sub.card_id).valid_until == clock.now() + timedelta(days=365)

    def test_a_product_without_its_own_days_uses_the_setting(self, database: Database, frozen_clock: Any):
        sub = subscriber(database)
        set_validity(database, sub.card_id, clock.now())
        recharge(database, sub.card_id, "voice-100min-30d")
        expected = clock.now() + timedelta(days=get_settings().validity_days_per_recharge)
        assert card_of(database, sub.card_id).valid_until == expected

    def test_an_online_recharge_extends_it_too(
        self, database: Database, client: TestClient, frozen_clock: Any
    ):
        card_id, auth = signed_in(database, client)
        before = card_of(database, card_id).valid_until
        assert before is not None
        paid_with_sandbox(client, auth, database, product_id="balance-10")
        assert card_of(database, card_id).valid_until == before + timedelta(days=90)


class TestReminders:
    def test_7_and_1_days_before_each_once_in_the_cards_language(self, database: Database, frozen_clock: Any):
        sub = subscriber(database)
        until = clock.now() + 10 * DAY
        set_validity(database, sub.card_id, until)
        sweep(database)
        assert reminders(database, sub.card_id) == []
        frozen_clock.advance(seconds=(3 * DAY + timedelta(hours=1)).total_seconds())
        sweep(database)
        sweep(database)
        sent = reminders(database, sub.card_id)
        assert len(sent) == 1
        assert until.date().isoformat() in sent[0].body
        assert "/recharge" in sent[0].body
        assert "充值" in sent[0].body  # make_card's card speaks Chinese
        frozen_clock.advance(seconds=(6 * DAY).total_seconds())
        sweep(database)
        sweep(database)
        assert len(reminders(database, sub.card_id)) == 2
        assert card_of(database, sub.card_id).status == CardStatus.ACTIVE

    def test_a_recharge_starts_a_new_round_of_reminders(self, database: Database, frozen_clock: Any):
        sub = subscriber(database)
        set_validity(database, sub.card_id, clock.now() + 5 * DAY)
        sweep(database)
        assert len(reminders(database, sub.card_id)) == 1
        recharge(database, sub.card_id, "balance-10")
        assert card_of(database, sub.card_id).validity_reminded is None
        frozen_clock.advance(seconds=(timedelta(days=90 - 2)).total_seconds())
        sweep(database)
        assert len(reminders(database, sub.card_id)) == 2


class TestExpiry:
    def test_a_lapsed_card_is_expired_with_history(self, database: Database, frozen_clock: Any):
        sub = subscriber(database)
        set_validity(database, sub.card_id, clock.now() + DAY)
        frozen_clock.advance(seconds=(2 * DAY).total_seconds())
        sweep(database)
        assert card_of(database, sub.card_id).status == CardStatus.EXPIRED
        assert history(database, sub.card_id)[-1] == ("active", "expired")

    def test_an_expired_card_gets_no_data_but_112_still_works(
        self, database: Database, client: TestClient, frozen_clock: Any
    ):
        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        set_validity(database, sub.card_id, clock.now() - DAY)
        sweep(database)
        data = _charge(
            client, key, charging_request(1, imsi=sub.imsi, units=[ask(DATA, "totalVolume", 1024)], plmn=US)
        )
        assert _unit(data) == {"ratingGroup": DATA, "resultCode": "END_USER_SERVICE_DENIED"}
        call = _charge(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 60)], plmn=US, called="tel:112"),
        )
        assert _unit(call)["resultCode"] == "SUCCESS"

    def test_a_recharge_in_the_grace_period_makes_it_active_again(
        self, database: Database, frozen_clock: Any
    ):
        sub = subscriber(database)
        set_validity(database, sub.card_id, clock.now() - DAY)
        sweep(database)
        recharge(database, sub.card_id, "balance-10")
        card = card_of(database, sub.card_id)
        assert card.status == CardStatus.ACTIVE
        assert card.valid_until == clock.now() + timedelta(days=90)
        assert history(database, sub.card_id)[-2:] == [("active", "expired"), ("expired", "active")]
        verify_ok(database)


def _profile(database: Database, iccid: str) -> EsimProfile:
    with database.reading() as session:
        profile = session.scalars(select(EsimProfile).where(EsimProfile.iccid == iccid)).one()
        session.expunge(profile)
        return profile


def _import(database: Database, tmp_path: Path, msisdn: str, serial: int) -> inventory.ImportReport:
    path = tmp_path / f"profiles-{serial}.csv"
    path.write_text(
        "iccid,imsi,msisdn,smdp_address,matching_id\n"
        f"{make_iccid(serial + 70_000_000)},310260{serial:09d},{msisdn},smdp.example.com,RC-NEW-{serial}\n",
        encoding="utf-8",
    )
    with database.transaction() as session:
        return inventory.import_file(session, path)


class TestClosureAfterGrace:
    def test_balance_to_breakage_packs_expired_number_quarantined(
        self, database: Database, frozen_clock: Any, tmp_path: Path
    ):
        sub = subscriber(database)
        assert sub.msisdn is not None
        with database.transaction() as session:  # the card's installed eSIM
            session.execute(
                update(EsimProfile).where(EsimProfile.iccid == sub.iccid).values(status="installed")
            )
        credit_balance(database, sub.card_id, 1234, "seed")
        give_pack(database, sub.card_id, Asset.DATA_BYTES, 1000, product_id=None, days=400, key="pack")
        set_validity(database, sub.card_id, clock.now() - DAY)
        sweep(database)
        frozen_clock.advance(seconds=(timedelta(days=get_settings().grace_days - 2)).total_seconds())
        sweep(database)
        assert card_of(database, sub.card_id).status == CardStatus.EXPIRED
        frozen_clock.advance(seconds=(2 * DAY).total_seconds())
        sweep(database)
        sweep(database)
        assert card_of(database, sub.card_id).status == CardStatus.CLOSED
        assert history(database, sub.card_id)[-1] == ("expired", "closed")
        with database.reading() as session:
            wallet = ledger.find_wallet_account(session, sub.card_id, "USD")
            assert wallet is not None
            assert wallet.balance == 0
            breakage = session.scalars(
                select(LedgerAccount).where(LedgerAccount.code == "operator:card_breakage:USD")
            ).one()
            assert ledger.verify(session).ok
            assert (
                session.scalar(
                    select(func.count()).select_from(Allowance).where(Allowance.expired_at.is_(None))
                )
                == 0
            )
        verify_ok(database)
        assert breakage.kind == "operator"
        profile = _profile(database, sub.iccid)
        assert profile.status == "retired"
        assert profile.msisdn_quarantine_until == clock.now() + timedelta(
            days=get_settings().msisdn_quarantine_days
        )
        # During the quarantine no other profile may take the number.
        refused = _import(database, tmp_path, sub.msisdn, 1)
        assert refused.loaded == 0
        assert [r.field for r in refused.rejected] == ["msisdn"]
        frozen_clock.advance(
            seconds=(timedelta(days=get_settings().msisdn_quarantine_days) + DAY).total_seconds()
        )
        allowed = _import(database, tmp_path, sub.msisdn, 2)
        assert allowed.loaded == 1
        assert _profile(database, sub.iccid).released_msisdn == sub.msisdn

    def test_the_breakage_transfer_is_keyed_once(self, database: Database, frozen_clock: Any):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 500, "seed")
        set_validity(database, sub.card_id, clock.now() - timedelta(days=get_settings().grace_days + 2))
        sweep(database)  # expired
        sweep(database)  # closed
        with database.reading() as session:
            keys = session.scalars(
                select(func.count())
                .select_from(LedgerAccount)
                .where(LedgerAccount.code.like("operator:card_breakage:%"))
            ).one()
        assert keys == 1
        assert card_of(database, sub.card_id).status == CardStatus.CLOSED
        verify_ok(database)


class TestClosedByHolder:
    def test_the_api_closes_with_a_refund_of_bought_balance(
        self, database: Database, client: TestClient, frozen_clock: Any
    ):
        card_id, auth = signed_in(database, client)
        order_id = paid_with_sandbox(client, auth, database, product_id="balance-10")
        refused = client.post(
            "/api/v1/card/close", json={"current_password": "000000", "confirm": True}, headers=auth
        )
        assert refused.status_code == 422
        unconfirmed = client.post(
            "/api/v1/card/close", json={"current_password": "20261225", "confirm": False}, headers=auth
        )
        assert unconfirmed.status_code == 422
        assert card_of(database, card_id).status == CardStatus.ACTIVE
        from tests.factories import DEFAULT_PASSWORD

        closed = client.post(
            "/api/v1/card/close", json={"current_password": DEFAULT_PASSWORD, "confirm": True}, headers=auth
        )
        assert closed.status_code == 200, closed.text
        body = closed.json()
        assert body["status"] == "closed"
        assert len(body["refunds"]) == 1
        assert card_of(database, card_id).status == CardStatus.CLOSED
        with database.reading() as session:
            refund = session.scalars(select(Refund).where(Refund.order_id == order_id)).one()
            assert refund.status in ("approved", "processing", "succeeded")
            wallet = ledger.find_wallet_account(session, card_id, "USD")
            assert wallet is not None
            assert wallet.balance == 0
            order = session.get(TopupOrder, order_id)
            assert order is not None
        assert history(database, card_id)[-1] == ("active", "closed")
        # Signed out: the token no longer works.
        assert client.get("/api/v1/card", headers=auth).status_code == 401
        verify_ok(database)


class TestSweeperRacingARecharge:
    def test_the_recharge_is_never_lost(self, database: Database, frozen_clock: Any):
        for _round in range(3):
            sub = subscriber(database)
            set_validity(database, sub.card_id, clock.now() - DAY)
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def run(
                step: Any, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors
            ) -> None:
                try:
                    barrier.wait()
                    step()
                except BaseException as exc:
                    errors.append(exc)

            threads = [
                threading.Thread(target=run, args=(lambda: sweep(database),)),
                threading.Thread(
                    target=run, args=(lambda card_id=sub.card_id: recharge(database, card_id, "balance-10"),)
                ),
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
            card = card_of(database, sub.card_id)
            assert card.status == CardStatus.ACTIVE
            assert card.valid_until == clock.now() + timedelta(days=90)
        verify_ok(database)
