"""Usage alerts (charging/service/alerts.py): 80 % and 100 % of a pack, the balance below its threshold,
3 days and 1 day before a pack expires; each exactly once per pack and threshold, also under parallel
charging; an alert the card holder switched off is not sent; the new-country welcome obeys its switch."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from roamcard.card import settings as card_settings
from roamcard.charging.schemas import ChargingDataRequest
from roamcard.charging.service import alerts, network_elements, sessions
from roamcard.db import Database
from roamcard.jobs.sweepers import remind_expiring_packs
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.ledger.assets import Asset
from roamcard.models import Card, Notification
from roamcard.network import service as network_service
from tests.charging.helpers import (
    DATA,
    MIB,
    US,
    VOICE,
    ask,
    charging_request,
    credit_balance,
    give_pack,
    subscriber,
    verify_ok,
)
from tests.charging.test_usage import _token

ALERTS = ("pack_used_80", "pack_used_100", "low_balance", "pack_expiring")
ALERTS_AND_WELCOME = (*ALERTS, "welcome_country")


def _element(database: Database, name: str = "pgw-alerts") -> int:
    with database.tx() as tx:
        key = network_elements.create(tx, name).key
        return network_elements.authenticate(tx, f"Bearer {key}")


def _use(database: Database, element_id: int, imsi: str, rating_group: int, field: str, used: int) -> str:
    """One session: create asking for `used`, then release reporting `used`. Returns its ref."""
    body = charging_request(1, imsi=imsi, units=[ask(rating_group, field, used)], plmn=US)
    with database.tx() as tx:
        ref = sessions.create(tx, element_id, ChargingDataRequest.model_validate(body)).ref
    _release(database, element_id, ref, rating_group, field, used)
    return ref


def _release(database: Database, element_id: int, ref: str, rating_group: int, field: str, used: int) -> None:
    body = charging_request(2, units=[ask(rating_group, field, None, used=used)])
    with database.tx() as tx:
        sessions.release(tx, element_id, ref, ChargingDataRequest.model_validate(body))


def _sent(database: Database, card_id: int, templates: tuple[str, ...] = ALERTS) -> list[tuple[str, str]]:
    with database.reading() as session:
        rows = session.execute(
            select(Notification.template, Notification.key)
            .where(Notification.card_id == card_id, Notification.template.in_(templates))
            .order_by(Notification.id)
        ).all()
    return [(template, key) for template, key in rows]


def _bodies(database: Database, card_id: int, template: str) -> list[str]:
    with database.reading() as session:
        return list(
            session.scalars(
                select(Notification.body).where(
                    Notification.card_id == card_id, Notification.template == template
                )
            )
        )


def _switch(database: Database, card_id: int, **off: bool) -> None:
    with database.transaction() as session:
        card_settings.set_alert_preferences(session, card_id, card_settings.AlertPreferences(**off))


class TestPackUsage:
    def test_80_and_100_percent_each_once_in_the_cards_language_with_a_recharge_link(
        self, database: Database
    ):
        sub = subscriber(database)
        pack = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        element_id = _element(database)
        _use(database, element_id, sub.imsi, DATA, "totalVolume", 7 * MIB)
        assert _sent(database, sub.card_id) == []  # 70 %
        _use(database, element_id, sub.imsi, DATA, "totalVolume", 1 * MIB)
        assert _sent(database, sub.card_id) == [("pack_used_80", f"{sub.card_id}:pack:{pack}:80")]
        _use(database, element_id, sub.imsi, DATA, "totalVolume", 1 * MIB)  # 90 %: nothing new
        ref = _use(database, element_id, sub.imsi, DATA, "totalVolume", 1 * MIB)
        _release(database, element_id, ref, DATA, "totalVolume", 1 * MIB)  # a repeated release
        _use(database, element_id, sub.imsi, DATA, "totalVolume", 1 * MIB)  # from the balance (none)
        assert _sent(database, sub.card_id) == [
            ("pack_used_80", f"{sub.card_id}:pack:{pack}:80"),
            ("pack_used_100", f"{sub.card_id}:pack:{pack}:100"),
        ]
        (body,) = _bodies(database, sub.card_id, "pack_used_80")
        assert "80%" in body
        assert "/recharge" in body
        assert "You have used" not in body  # a zh-CN card: the message is in Chinese
        verify_ok(database)

    def test_one_posting_over_both_thresholds_sends_the_100_percent_alert_only(self, database: Database):
        sub = subscriber(database)
        give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        _use(database, _element(database), sub.imsi, DATA, "totalVolume", 10 * MIB)
        assert [t for t, _ in _sent(database, sub.card_id)] == ["pack_used_100"]

    def test_parallel_sessions_send_each_threshold_exactly_once(self, database: Database):
        sub = subscriber(database)
        pack = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 16 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        element_id = _element(database)
        start = threading.Barrier(8)

        def one(index: int) -> None:
            if index < 8:
                start.wait()
            _use(database, element_id, sub.imsi, DATA, "totalVolume", MIB)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, range(16)))
        assert sorted(_sent(database, sub.card_id)) == [
            ("pack_used_100", f"{sub.card_id}:pack:{pack}:100"),
            ("pack_used_80", f"{sub.card_id}:pack:{pack}:80"),
        ]
        verify_ok(database)

    def test_switched_off_nothing_is_sent(self, database: Database):
        sub = subscriber(database)
        give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        _switch(database, sub.card_id, pack_usage=False)
        _use(database, _element(database), sub.imsi, DATA, "totalVolume", 10 * MIB)
        assert _sent(database, sub.card_id) == []


class TestLowBalance:
    def test_once_per_crossing_and_re_armed_by_a_recharge(self, database: Database):
        sub = subscriber(database)  # USD card; the threshold is USD 2.00 (200)
        credit_balance(database, sub.card_id, 250, "seed")
        element_id = _element(database)
        _use(database, element_id, sub.imsi, VOICE, "time", 300)  # 5 minutes at 25 cents: 125 left
        assert [t for t, _ in _sent(database, sub.card_id)] == ["low_balance"]
        _use(database, element_id, sub.imsi, VOICE, "time", 120)  # 75 left: still below, no new alert
        assert len(_sent(database, sub.card_id)) == 1
        credit_balance(database, sub.card_id, 200, "recharge")  # 275: above again, re-armed
        _use(database, element_id, sub.imsi, VOICE, "time", 300)  # 150: below again
        sent = _sent(database, sub.card_id)
        assert [t for t, _ in sent] == ["low_balance", "low_balance"]
        assert len({k for _, k in sent}) == 2
        assert all(k.startswith(f"{sub.card_id}:balance:USD:low:") for _, k in sent)
        bodies = _bodies(database, sub.card_id, "low_balance")
        assert "1.25" in bodies[0]
        assert "/recharge" in bodies[0]
        verify_ok(database)

    def test_parallel_charges_cross_once(self, database: Database):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 400, "seed")  # 16 minutes; below 200 after the 8th
        element_id = _element(database)
        start = threading.Barrier(8)

        def one(index: int) -> None:
            if index < 8:
                start.wait()
            _use(database, element_id, sub.imsi, VOICE, "time", 60)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, range(16)))
        assert [t for t, _ in _sent(database, sub.card_id)] == ["low_balance"]
        verify_ok(database)

    def test_switched_off_nothing_is_sent(self, database: Database):
        sub = subscriber(database)
        credit_balance(database, sub.card_id, 250, "seed")
        _switch(database, sub.card_id, low_balance=False)
        _use(database, _element(database), sub.imsi, VOICE, "time", 300)
        assert _sent(database, sub.card_id) == []


class TestExpiryReminders:
    def test_3_days_and_1_day_before_each_once_by_the_sweeper(
        self, database: Database, frozen_clock: clock.FrozenClock
    ):
        sub = subscriber(database)
        pack = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 10 * MIB, product_id="data-1gb-7d", days=7, key="p"
        )
        spent = give_pack(database, sub.card_id, Asset.VOICE_SECONDS, 60, product_id=None, days=7, key="v")
        with database.tx() as tx:  # a pack with nothing left gets no reminder
            tx.run(
                "UPDATE ledger_accounts SET balance = 0 WHERE id = "
                "(SELECT account_id FROM allowances WHERE id = :id)",
                id=spent,
            )
        assert remind_expiring_packs(database) == 0
        frozen_clock.advance(days=4, hours=1)  # 2 days 23 hours left
        assert remind_expiring_packs(database) == 1
        assert remind_expiring_packs(database) == 0  # run twice: once
        frozen_clock.advance(days=2)  # 23 hours left
        assert remind_expiring_packs(database) == 1
        assert remind_expiring_packs(database) == 0
        frozen_clock.advance(days=1)  # expired: nothing more
        assert remind_expiring_packs(database) == 0
        assert _sent(database, sub.card_id) == [
            ("pack_expiring", f"{sub.card_id}:pack:{pack}:expiry:3d"),
            ("pack_expiring", f"{sub.card_id}:pack:{pack}:expiry:1d"),
        ]
        body = _bodies(database, sub.card_id, "pack_expiring")[0]
        assert "/recharge" in body

    def test_a_pack_with_less_than_a_day_left_gets_the_1_day_reminder_only(
        self, database: Database, frozen_clock: clock.FrozenClock
    ):
        sub = subscriber(database)
        pack = give_pack(database, sub.card_id, Asset.SMS, 5, product_id=None, days=1, key="s")
        frozen_clock.advance(hours=1)
        assert remind_expiring_packs(database) == 1
        assert _sent(database, sub.card_id) == [("pack_expiring", f"{sub.card_id}:pack:{pack}:expiry:1d")]

    def test_switched_off_nothing_is_sent(self, database: Database, frozen_clock: clock.FrozenClock):
        sub = subscriber(database)
        give_pack(database, sub.card_id, Asset.SMS, 5, product_id=None, days=2, key="s")
        _switch(database, sub.card_id, pack_expiry=False)
        assert remind_expiring_packs(database) == 0
        assert _sent(database, sub.card_id) == []


class TestWelcomeSwitch:
    def test_switched_off_the_new_country_welcome_is_not_sent(self, database: Database):
        sub = subscriber(database)
        other = subscriber(database, catalog=False)
        _switch(database, sub.card_id, new_country=False)
        with database.tx() as tx:
            network_service.seen(tx, sub.card_id, "310", "260", clock.now())
            network_service.seen(tx, other.card_id, "310", "260", clock.now())
        assert _sent(database, sub.card_id, ALERTS_AND_WELCOME) == []
        assert [t for t, _ in _sent(database, other.card_id, ALERTS_AND_WELCOME)] == ["welcome_country"]


class TestBanners:
    def test_what_the_dashboard_warns_about(self):
        now = clock.now()
        when = lambda moment: moment.strftime("%Y-%m-%d")  # noqa: E731
        packs = [
            (alerts.PackState("DATA_BYTES", 2, 10, now + timedelta(days=6), None), "Data"),
            (alerts.PackState("VOICE_SECONDS", 0, 60, now + timedelta(days=6), None), "Calls"),
            (alerts.PackState("SMS", 5, 5, now + timedelta(days=2), None), "SMS"),
        ]
        found = alerts.banners(packs, Money(150, "USD"), "en", when, now=now)
        assert [b.kind for b in found] == ["pack_used_80", "pack_used_100", "pack_expiring", "low_balance"]
        assert found[0].text == "You have used 80% of your Data."
        assert alerts.banners([], Money(200, "USD"), "en", when, now=now) == []


class TestPreferencesApi:
    def test_get_and_put(self, database: Database, client: TestClient):
        sub = subscriber(database)
        auth = {"Authorization": f"Bearer {_token(client, database, sub.card_id)}"}
        assert client.get("/api/v1/card/alerts").status_code == 401
        everything = {"pack_usage": True, "low_balance": True, "pack_expiry": True, "new_country": True}
        assert client.get("/api/v1/card/alerts", headers=auth).json() == everything
        chosen: dict[str, Any] = {**everything, "low_balance": False, "new_country": False}
        response = client.put("/api/v1/card/alerts", json=chosen, headers=auth)
        assert response.status_code == 200
        assert response.json() == chosen
        assert client.get("/api/v1/card/alerts", headers=auth).json() == chosen
        with database.reading() as session:
            card = session.get(Card, sub.card_id)
            assert card is not None
            assert (card.alert_low_balance, card.alert_new_country, card.alert_pack_usage) == (
                False,
                False,
                True,
            )
        assert client.put("/api/v1/card/alerts", json={"pack_usage": False}, headers=auth).status_code == 422

    def test_a_suspended_card_cannot_change_them(self, database: Database, client: TestClient):
        sub = subscriber(database)
        auth = {"Authorization": f"Bearer {_token(client, database, sub.card_id)}"}
        with database.transaction() as session:
            session.execute(update(Card).where(Card.id == sub.card_id).values(status="suspended"))
        body = {"pack_usage": False, "low_balance": False, "pack_expiry": False, "new_country": False}
        assert client.put("/api/v1/card/alerts", json=body, headers=auth).status_code == 403
        assert client.get("/api/v1/card/alerts", headers=auth).status_code == 200  # it may still look
