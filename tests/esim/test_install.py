"""GET /api/v1/card/esim, its QR images (decoded with zxing-cpp) and the card's own number in /card."""

from __future__ import annotations

import io
from urllib.parse import unquote

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import update

from roamcard.db import Database
from roamcard.esim.activation_code import ActivationCode
from roamcard.esim.service import install, inventory
from roamcard.models import Card, EsimProfile
from tests.factories import DEFAULT_PASSWORD, make_card, make_esim_profiles


def sign_in(client: TestClient, card: Card) -> dict[str, str]:
    response = client.post(
        "/api/v1/sessions", json={"card_number": card.card_number, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def card_with_esim(database: Database) -> tuple[Card, str]:
    with database.transaction() as session:
        (iccid,) = make_esim_profiles(session, 1)
        card = make_card(session)
        inventory.allocate(session, card.id)
        session.expunge(card)
    return card, iccid


def decode(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


class TestTheEsimView:
    def test_shows_the_profile_its_code_and_links(
        self, client: TestClient, database: Database, card_with_esim: tuple[Card, str]
    ) -> None:
        card, iccid = card_with_esim
        response = client.get("/api/v1/card/esim", headers=sign_in(client, card))
        assert response.status_code == 200
        assert response.headers["cache-control"] == "private, no-store"
        body = response.json()
        assert body["iccid"] == iccid
        assert body["status"] == "allocated"
        assert body["install_state"] == "not_installed"
        code = ActivationCode.parse(body["activation_code"])
        assert not body["activation_code"].startswith("LPA:")
        assert code.smdp_address == body["smdp_address"] == "smdp.example.com"
        assert code.matching_id == body["matching_id"]
        assert body["confirmation_code_required"] is False
        prefix = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="
        assert body["ios_install_url"].startswith(prefix)
        assert unquote(body["ios_install_url"][len(prefix) :]) == "LPA:" + body["activation_code"]
        assert "$" not in body["ios_install_url"]
        assert body["qr_svg_url"] == "/api/v1/card/esim/qr.svg"

    def test_the_card_shows_its_own_number(
        self, client: TestClient, database: Database, card_with_esim: tuple[Card, str]
    ) -> None:
        card, _ = card_with_esim
        body = client.get("/api/v1/card", headers=sign_in(client, card)).json()
        assert body["msisdn"].startswith("+1202555")
        assert body["phone"] == card.phone

    def test_a_card_without_a_profile_has_no_msisdn_and_404_on_esim(
        self, client: TestClient, database: Database
    ) -> None:
        with database.transaction() as session:
            card = make_card(session)
            session.expunge(card)
        auth = sign_in(client, card)
        assert client.get("/api/v1/card", headers=auth).json()["msisdn"] is None
        response = client.get("/api/v1/card/esim", headers=auth)
        assert response.status_code == 404
        assert response.json()["code"] == "esim_not_issued"

    @pytest.mark.parametrize(
        "path", ["/api/v1/card/esim", "/api/v1/card/esim/qr.svg", "/api/v1/card/esim/qr.png"]
    )
    def test_nothing_without_signing_in(self, client: TestClient, database: Database, path: str) -> None:
        assert client.get(path).status_code == 401

    def test_the_status_follows_the_profile(
        self, client: TestClient, database: Database, card_with_esim: tuple[Card, str]
    ) -> None:
        card, iccid = card_with_esim
        with database.transaction() as session:
            session.execute(update(EsimProfile).where(EsimProfile.iccid == iccid).values(status="enabled"))
        body = client.get("/api/v1/card/esim", headers=sign_in(client, card)).json()
        assert body["install_state"] == "active"


class TestTheQrCodes:
    def test_the_png_decodes_to_exactly_the_qr_text(
        self, client: TestClient, database: Database, card_with_esim: tuple[Card, str]
    ) -> None:
        card, _ = card_with_esim
        auth = sign_in(client, card)
        code = client.get("/api/v1/card/esim", headers=auth).json()["activation_code"]
        response = client.get("/api/v1/card/esim/qr.png", headers=auth)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == "private, no-store"
        assert decode(response.content) == ["LPA:" + code]

    def test_the_svg_is_private_and_is_the_same_code(
        self, client: TestClient, database: Database, card_with_esim: tuple[Card, str]
    ) -> None:
        card, _ = card_with_esim
        response = client.get("/api/v1/card/esim/qr.svg", headers=sign_in(client, card))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert response.headers["cache-control"] == "private, no-store"
        assert response.content.lstrip().startswith(b"<svg")

    @pytest.mark.parametrize(
        "text",
        [
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1",
        ],
    )
    def test_every_shape_of_code_round_trips_through_the_image(self, text: str) -> None:
        code = ActivationCode.parse(text)
        assert decode(install.qr_png(code)) == [code.qr_text()]


class TestNeverLogged:
    def test_the_activation_code_and_matching_id_appear_in_no_log(
        self,
        client: TestClient,
        database: Database,
        card_with_esim: tuple[Card, str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        import logging

        from tests.logs import captured_logs

        card, iccid = card_with_esim
        with database.reading() as session:
            matching_id = session.query(EsimProfile).filter_by(iccid=iccid).one().matching_id
        caplog.set_level(logging.DEBUG)
        with captured_logs() as events:
            auth = sign_in(client, card)
            body = client.get("/api/v1/card/esim", headers=auth).json()
            for url in (body["qr_png_url"], body["qr_svg_url"]):
                assert client.get(url, headers=auth).status_code == 200
            assert client.get("/esim", headers=auth).status_code in (200, 303)
        assert body["matching_id"] == matching_id
        assert caplog.records  # the capture works: the requests were logged
        logged = repr(events) + caplog.text
        assert matching_id not in logged
        assert body["activation_code"] not in logged
