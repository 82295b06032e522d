import itertools
import json

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.esim.service import inventory
from roamcard.models import EsimEvent, EsimProfile, StateTransition
from tests.factories import make_card, make_esim_profiles

TOKEN = "smdp-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
_call = itertools.count(1)


@pytest.fixture(autouse=True)
def smdp_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "smdp_notify_token", SecretStr(TOKEN))


def notification(
    iccid: str, point: int, second: int, status: str = "Executed-Success", **extra: object
) -> bytes:
    body = {
        "header": {"functionRequesterIdentifier": "SMDP-VENDOR", "functionCallIdentifier": f"c{next(_call)}"},
        "iccid": iccid,
        "eid": "89049032123451234512345678901235",
        "profileType": "Roamcard travel",
        "timestamp": f"2026-12-02T10:00:{second:02d}Z",
        "notificationPointId": point,
        "notificationPointStatus": {"status": status},
        **extra,
    }
    return json.dumps(body).encode()


@pytest.fixture
def iccid(database: Database) -> str:
    with database.transaction() as session:
        (iccid,) = make_esim_profiles(session, 1)
        inventory.allocate(session, make_card(session).id)
    return iccid


def profile(database: Database, iccid: str) -> EsimProfile:
    with database.reading() as session:
        found = session.scalars(select(EsimProfile).where(EsimProfile.iccid == iccid)).one()
        session.expunge(found)
        return found


def post(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> int:
    return client.post(
        "/webhooks/smdp", content=body, headers=AUTH if headers is None else headers
    ).status_code


class TestTheLifecycle:
    def test_download_install_enable_disable_delete_in_order(
        self, client: TestClient, database: Database, iccid: str
    ) -> None:
        seen = []
        for point, second in ((1, 1), (3, 2), (4, 3), (101, 4), (102, 5), (101, 6), (5, 7)):
            assert post(client, notification(iccid, point, second)) == 204
            seen.append(profile(database, iccid).status)
        assert seen == ["allocated", "downloaded", "installed", "enabled", "disabled", "enabled", "deleted"]
        final = profile(database, iccid)
        assert final.installed_at is not None
        assert final.eid == "89049032123451234512345678901235"
        with database.reading() as session:
            moves = session.scalars(
                select(StateTransition.to_status).where(
                    StateTransition.entity_type == "esim", StateTransition.entity_id == str(final.id)
                )
            ).all()
        assert moves == ["allocated", "downloaded", "installed", "enabled", "disabled", "enabled", "deleted"]

    def test_a_failed_step_puts_the_profile_in_error_and_a_later_success_recovers(
        self, client: TestClient, database: Database, iccid: str
    ) -> None:
        post(client, notification(iccid, 3, 1, "Failed"))
        assert profile(database, iccid).status == "error"
        post(client, notification(iccid, 3, 2))
        assert profile(database, iccid).status == "downloaded"

    def test_out_of_order_events_never_move_the_profile_backwards(
        self, client: TestClient, database: Database, iccid: str
    ) -> None:
        for point, second in ((101, 4), (4, 3), (3, 2), (1, 1)):
            assert post(client, notification(iccid, point, second)) == 204
        assert profile(database, iccid).status == "enabled"
        with database.reading() as session:
            outcomes = session.scalars(select(EsimEvent.outcome).order_by(EsimEvent.id)).all()
        assert outcomes == ["applied", "stale", "stale", "stale"]

    def test_every_order_of_the_same_events_ends_the_same(
        self, client: TestClient, database: Database
    ) -> None:
        events = [(3, 2), (4, 3), (101, 4), (102, 5)]
        with database.transaction() as session:
            iccids = make_esim_profiles(session, 24)
            for _ in iccids:
                inventory.allocate(session, make_card(session).id)
        for iccid, order in zip(iccids, itertools.permutations(events), strict=True):
            for point, second in order:
                assert post(client, notification(iccid, point, second)) == 204
            assert profile(database, iccid).status == "disabled", order

    def test_a_duplicate_is_stored_once_and_changes_nothing(
        self, client: TestClient, database: Database, iccid: str
    ) -> None:
        body = notification(iccid, 3, 2)
        assert post(client, body) == 204
        assert post(client, body) == 204
        assert post(client, notification(iccid, 3, 2)) == 204  # another call id, same event
        with database.reading() as session:
            assert len(session.scalars(select(EsimEvent)).all()) == 1
        assert profile(database, iccid).status == "downloaded"

    def test_unknown_points_and_unknown_iccids_are_stored_and_ignored(
        self, client: TestClient, database: Database, iccid: str
    ) -> None:
        assert post(client, notification(iccid, 77, 1)) == 204
        assert post(client, notification("8901260999999999999", 3, 1)) == 204
        assert profile(database, iccid).status == "allocated"
        with database.reading() as session:
            outcomes = session.scalars(select(EsimEvent.outcome).order_by(EsimEvent.id)).all()
        assert outcomes == ["ignored", "unknown_profile"]


class TestAuthentication:
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
        ],
    )
    def test_anything_but_the_token_is_401_and_changes_nothing(
        self, client: TestClient, database: Database, iccid: str, headers: dict[str, str]
    ) -> None:
        assert post(client, notification(iccid, 3, 1), headers) == 401
        assert profile(database, iccid).status == "allocated"
        with database.reading() as session:
            assert session.scalars(select(EsimEvent)).all() == []

    def test_without_a_configured_token_everything_is_refused(
        self, client: TestClient, database: Database, iccid: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "smdp_notify_token", None)
        assert post(client, notification(iccid, 3, 1)) == 401
        assert post(client, notification(iccid, 3, 1), {"Authorization": "Bearer "}) == 401
        assert profile(database, iccid).status == "allocated"

    @pytest.mark.parametrize(
        "body",
        [b"not json", b"{}", b'{"iccid": "x", "notificationPointId": 3}', b"[]"],
    )
    def test_a_body_that_is_not_a_notification_is_400(
        self, client: TestClient, database: Database, body: bytes
    ) -> None:
        assert post(client, body) == 400

    def test_a_timestamp_without_a_zone_is_400(
        self, client: TestClient, database: Database, iccid: str
    ) -> None:
        body = json.loads(notification(iccid, 3, 1))
        body["timestamp"] = "2026-12-02T10:00:00"
        assert post(client, json.dumps(body).encode()) == 400
