"""The charging API (Nchf_ConvergedCharging shape): sessions, grants from packs then balance, final units,
duplicates, unknown subscribers, network element keys, emergency calls. Every test runs on both engines."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.charging.service import network_elements
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.ledger.assets import Asset
from roamcard.models import (
    CardNetwork,
    ChargingGrant,
    ChargingSession,
    LedgerReservation,
    LedgerTransfer,
    NetworkElement,
)
from tests.charging.helpers import (
    BASE,
    DATA,
    FR,
    GIB,
    JP,
    MIB,
    SMS,
    US,
    VOICE,
    ask,
    available,
    charging_request,
    credit_balance,
    element_key,
    give_pack,
    subscriber,
    suspend,
    verify_ok,
)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _create(client: TestClient, key: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    response = client.post(BASE, json=body, headers=_auth(key))
    assert response.status_code == 201, response.text
    location = response.headers["Location"]
    assert location.startswith(BASE + "/chg_")
    return location.rsplit("/", 1)[1], response.json()


def _unit(body: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return body["multipleUnitInformation"][index]


def _count(database: Database, model: Any) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


class TestGrantsFromPacksThenBalance:
    def test_data_comes_from_the_covering_pack_that_expires_first(
        self, database: Database, client: TestClient
    ):
        key, sub = element_key(database), subscriber(database)
        later = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, GIB, product_id="data-5gb-30d", days=30, key="p1"
        )
        sooner = give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 30 * MIB, product_id="data-1gb-7d", days=7, key="p2"
        )
        _ref, body = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(DATA, "totalVolume", 40 * MIB)], plmn=US),
        )
        unit = _unit(body)
        assert unit["resultCode"] == "SUCCESS"
        assert unit["grantedUnit"] == {"totalVolume": 40 * MIB}
        assert unit["validityTime"] == 600
        assert "finalUnitIndication" not in unit
        with database.reading() as session:
            slices = session.execute(
                select(ChargingGrant.allowance_id, ChargingGrant.units_granted).order_by(ChargingGrant.id)
            ).all()
        assert [tuple(s) for s in slices] == [(sooner, 30 * MIB), (later, 10 * MIB)]
        verify_ok(database)

    def test_a_pack_that_does_not_cover_the_country_is_skipped_and_the_zone_rate_applies(
        self, database: Database, client: TestClient
    ):
        key, sub = element_key(database), subscriber(database)
        give_pack(database, sub.card_id, Asset.DATA_BYTES, GIB, product_id="data-1gb-7d", days=7, key="p1")
        credit_balance(database, sub.card_id, 100, "seed")  # $1.00; Europe: 3 cents per MiB
        _ref, body = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(DATA, "totalVolume", 50 * MIB)], plmn=FR),
        )
        unit = _unit(body)
        # 100 cents buy 33.33 MiB; the grant is every byte the balance can pay for, and it is the last one.
        assert unit["grantedUnit"] == {"totalVolume": 100 * MIB // 3}
        assert unit["finalUnitIndication"] == {"finalUnitAction": "TERMINATE"}
        assert available(database, sub.card_id)["USD"] == 0  # all of it held, none of it debited
        with database.reading() as session:
            assert (
                session.scalar(
                    select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.reason == "usage")
                )
                == 0
            )
        verify_ok(database)

    def test_used_units_are_posted_and_the_rest_is_voided(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        ref, body = _create(
            client, key, charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 300)], plmn=US)
        )
        assert _unit(body)["grantedUnit"] == {"time": 300}
        assert available(database, sub.card_id)["USD"] == 1000 - 5 * 25
        # 61 seconds used: two started minutes at 25 cents; then the call ends.
        response = client.post(
            f"{BASE}/{ref}/release",
            json=charging_request(2, units=[ask(VOICE, "time", None, used=61)]),
            headers=_auth(key),
        )
        assert response.status_code == 204
        assert available(database, sub.card_id)["USD"] == 1000 - 50
        with database.reading() as session:
            statuses = session.execute(
                select(LedgerReservation.status, LedgerReservation.posted_amount)
            ).all()
            assert [tuple(s) for s in statuses] == [("posted", 50)]
            assert session.scalar(select(ChargingSession.status)) == "released"
        verify_ok(database)

    def test_an_update_settles_what_was_used_and_grants_again(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        give_pack(
            database, sub.card_id, Asset.DATA_BYTES, 80 * MIB, product_id="data-1gb-7d", days=7, key="p1"
        )
        ref, body = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[{"ratingGroup": DATA, "requestedUnit": {}}], plmn=US),
        )
        assert _unit(body)["grantedUnit"] == {"totalVolume": 50 * MIB}  # the default quota
        response = client.post(
            f"{BASE}/{ref}/update",
            json=charging_request(2, units=[ask(DATA, "totalVolume", 50 * MIB, used=20 * MIB)]),
            headers=_auth(key),
        )
        assert response.status_code == 200
        unit = _unit(response.json())
        assert unit["grantedUnit"] == {"totalVolume": 50 * MIB}
        assert available(database, sub.card_id)["DATA_BYTES"] == 80 * MIB - 20 * MIB - 50 * MIB
        response = client.post(
            f"{BASE}/{ref}/update",
            json=charging_request(3, units=[ask(DATA, "totalVolume", 50 * MIB, used=50 * MIB)]),
            headers=_auth(key),
        )
        unit = _unit(response.json())
        assert unit["grantedUnit"] == {"totalVolume": 10 * MIB}  # what is left, and it is the last
        assert unit["finalUnitIndication"] == {"finalUnitAction": "TERMINATE"}
        response = client.post(
            f"{BASE}/{ref}/update",
            json=charging_request(4, units=[ask(DATA, "totalVolume", 50 * MIB, used=10 * MIB)]),
            headers=_auth(key),
        )
        unit = _unit(response.json())
        assert unit["resultCode"] == "QUOTA_LIMIT_REACHED"
        assert unit["finalUnitIndication"] == {"finalUnitAction": "TERMINATE"}
        assert available(database, sub.card_id)["DATA_BYTES"] == 0
        verify_ok(database)

    def test_a_bonus_pack_covers_what_its_product_covers(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        # A promotion's bonus pack is granted with its order's product (topup/service/fulfil.py).
        give_pack(database, sub.card_id, Asset.SMS, 5, product_id="voice-100min-30d", days=30, key="bonus")
        _ref, body = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(SMS, "serviceSpecificUnits", 1)], plmn=US),
        )
        assert _unit(body)["grantedUnit"] == {"serviceSpecificUnits": 1}
        _ref, body = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(SMS, "serviceSpecificUnits", 1)], plmn=JP),
        )
        assert _unit(body)["resultCode"] == "QUOTA_LIMIT_REACHED"

    def test_an_unknown_rating_group_fails_rating(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        _ref, body = _create(
            client, key, charging_request(1, imsi=sub.imsi, units=[ask(99, "time", 60)], plmn=US)
        )
        assert _unit(body) == {"ratingGroup": 99, "resultCode": "RATING_FAILED"}


class TestSubscribers:
    def test_found_by_msisdn_and_iccid(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 100, "seed")
        assert sub.msisdn is not None
        for identifier in (f"msisdn-{sub.msisdn.lstrip('+')}", f"iccid-{sub.iccid}"):
            _ref, body = _create(
                client,
                key,
                charging_request(
                    1, identifier=identifier, units=[ask(SMS, "serviceSpecificUnits", 1)], plmn=US
                ),
            )
            assert _unit(body)["resultCode"] == "SUCCESS"

    def test_an_unknown_subscriber_is_404_user_unknown_and_opens_no_session(
        self, database: Database, client: TestClient
    ):
        key, _sub = element_key(database), subscriber(database)
        response = client.post(
            BASE,
            json=charging_request(1, imsi="310260999999999", units=[ask(DATA, "totalVolume", 1)]),
            headers=_auth(key),
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "USER_UNKNOWN"
        assert _count(database, ChargingSession) == 0


class TestNetworkElements:
    def test_no_key_a_wrong_key_and_a_revoked_key_are_401(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        body = charging_request(1, imsi=sub.imsi, units=[ask(DATA, "totalVolume", 1)])
        with database.tx() as tx:
            assert network_elements.revoke(tx, "pgw-test-1")
        for headers in ({}, _auth("rcne_not-a-key"), {"Authorization": f"Basic {key}"}, _auth(key)):
            response = client.post(BASE, json=body, headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["code"] == "network_element_unauthorized"
        assert _count(database, ChargingSession) == 0

    def test_the_key_is_stored_only_as_its_hash(self, database: Database):
        key = element_key(database)
        with database.reading() as session:
            row = session.scalars(select(NetworkElement)).one()
        assert key.split("_", 1)[1] not in row.key_hash
        assert network_elements.keys.verify_mac("network-element", key.encode(), row.key_hash)

    def test_another_element_cannot_update_a_session(self, database: Database, client: TestClient):
        key, other, sub = element_key(database), element_key(database, "pgw-test-2"), subscriber(database)
        credit_balance(database, sub.card_id, 100, "seed")
        ref, _ = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(SMS, "serviceSpecificUnits", 1)], plmn=US),
        )
        response = client.post(f"{BASE}/{ref}/update", json=charging_request(2), headers=_auth(other))
        assert response.status_code == 404


class TestDuplicates:
    def test_a_repeated_update_returns_the_first_answer_and_changes_nothing(
        self, database: Database, client: TestClient
    ):
        key, sub = element_key(database), subscriber(database)
        give_pack(database, sub.card_id, Asset.DATA_BYTES, GIB, product_id="data-1gb-7d", days=7, key="p1")
        ref, _ = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(DATA, "totalVolume", 10 * MIB)], plmn=US),
        )
        body = charging_request(2, units=[ask(DATA, "totalVolume", 10 * MIB, used=5 * MIB)])
        first = client.post(f"{BASE}/{ref}/update", json=body, headers=_auth(key))
        before = (
            available(database, sub.card_id),
            _count(database, LedgerReservation),
            _count(database, LedgerTransfer),
        )
        again = client.post(f"{BASE}/{ref}/update", json=body, headers=_auth(key))
        assert again.status_code == 200
        assert again.json() == first.json()
        assert (
            available(database, sub.card_id),
            _count(database, LedgerReservation),
            _count(database, LedgerTransfer),
        ) == before
        verify_ok(database)

    def test_a_repeated_release_is_204_again(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 100, "seed")
        ref, _ = _create(
            client,
            key,
            charging_request(1, imsi=sub.imsi, units=[ask(SMS, "serviceSpecificUnits", 1)], plmn=US),
        )
        body = charging_request(2, units=[ask(SMS, "serviceSpecificUnits", None, used=1)])
        assert client.post(f"{BASE}/{ref}/release", json=body, headers=_auth(key)).status_code == 204
        assert client.post(f"{BASE}/{ref}/release", json=body, headers=_auth(key)).status_code == 204
        assert available(database, sub.card_id)["USD"] == 90
        # A new request on a released session is refused.
        later = client.post(f"{BASE}/{ref}/update", json=charging_request(3), headers=_auth(key))
        assert later.status_code == 404
        verify_ok(database)


class TestSuspendedAndEmergency:
    def test_a_suspended_card_is_denied(self, database: Database, client: TestClient):
        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        suspend(database, sub.card_id)
        _ref, body = _create(
            client,
            key,
            charging_request(
                1, imsi=sub.imsi, units=[ask(VOICE, "time", 60)], plmn=US, called="tel:+12025550100"
            ),
        )
        assert _unit(body) == {"ratingGroup": VOICE, "resultCode": "END_USER_SERVICE_DENIED"}
        assert available(database, sub.card_id)["USD"] == 1000

    def test_112_and_911_are_granted_at_zero_balance_and_when_suspended(
        self, database: Database, client: TestClient
    ):
        key, sub = element_key(database), subscriber(database)
        for number, plmn in (("tel:911", US), ("tel:112", FR), ("tel:112", JP)):
            ref, body = _create(
                client,
                key,
                charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 120)], plmn=plmn, called=number),
            )
            assert _unit(body)["resultCode"] == "SUCCESS"
            assert _unit(body)["grantedUnit"] == {"time": 120}
            release = client.post(
                f"{BASE}/{ref}/release",
                json=charging_request(2, units=[ask(VOICE, "time", None, used=95)]),
                headers=_auth(key),
            )
            assert release.status_code == 204
            if number == "tel:911":
                suspend(database, sub.card_id)
        with database.reading() as session:
            records = session.execute(
                select(ChargingGrant.source, ChargingGrant.units_used, ChargingGrant.charged_amount)
            ).all()
        assert [tuple(r) for r in records] == [("emergency", 95, 0)] * 3
        assert _count(database, LedgerReservation) == 0
        verify_ok(database)

    def test_a_countrys_own_number_is_an_emergency_there_and_only_there(
        self, database: Database, client: TestClient
    ):
        key, sub = element_key(database), subscriber(database)  # zero balance
        uk, cn = {"mcc": "234", "mnc": "10"}, {"mcc": "460", "mnc": "00"}
        answers = {}
        for number, plmn in (("tel:999", uk), ("tel:120", cn), ("tel:999", US), ("tel:+1911", US)):
            _ref, body = _create(
                client,
                key,
                charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 60)], plmn=plmn, called=number),
            )
            answers[(number, plmn["mcc"])] = _unit(body)["resultCode"]
        assert answers == {
            ("tel:999", "234"): "SUCCESS",
            ("tel:120", "460"): "SUCCESS",
            ("tel:999", "310"): "QUOTA_LIMIT_REACHED",  # 999 is the UK's, not the US's
            ("tel:+1911", "310"): "QUOTA_LIMIT_REACHED",  # a number with a country code is not a short code
        }


class TestNetworkStatus:
    def test_each_request_naming_a_plmn_records_the_cards_last_network(
        self, database: Database, client: TestClient
    ):
        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 1000, "seed")
        ref, _body = _create(
            client, key, charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 60)], plmn=US)
        )
        with database.reading() as session:
            seen = session.get(CardNetwork, sub.card_id)
            assert seen is not None
            assert (seen.mcc, seen.mnc, seen.country) == ("310", "260", "US")
        moved = client.post(
            f"{BASE}/{ref}/update",
            json=charging_request(2, units=[ask(VOICE, "time", 60, used=30)], plmn=FR),
            headers=_auth(key),
        )
        assert moved.status_code == 200
        with database.reading() as session:
            seen = session.get(CardNetwork, sub.card_id)
            assert seen is not None
            assert (seen.mcc, seen.country) == ("208", "FR")


class TestLapsedReservations:
    def test_the_sweeper_voids_a_grant_whose_session_never_reported_back(
        self, database: Database, client: TestClient, frozen_clock: clock.FrozenClock
    ):
        from roamcard.jobs.sweepers import void_lapsed_reservations

        key, sub = element_key(database), subscriber(database)
        credit_balance(database, sub.card_id, 500, "seed")
        _create(client, key, charging_request(1, imsi=sub.imsi, units=[ask(VOICE, "time", 300)], plmn=US))
        assert available(database, sub.card_id)["USD"] == 500 - 125
        frozen_clock.advance(seconds=599)
        assert void_lapsed_reservations(database) == 0
        frozen_clock.advance(seconds=1)
        assert void_lapsed_reservations(database) == 1
        assert available(database, sub.card_id)["USD"] == 500
        with database.reading() as session:
            assert session.scalar(select(LedgerReservation.status)) == "voided"
        verify_ok(database)
