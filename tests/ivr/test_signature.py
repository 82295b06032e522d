"""Every IVR request is verified with X-Twilio-Signature over the public URL (behind a TLS proxy too)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.models import IvrCall
from tests.ivr.phone import Phone, signature

PARAMS = {"CallSid": "CA" + "1" * 32, "From": "+8613800138000", "To": "+18005550199"}


def _calls(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(IvrCall)) or 0)


class TestSignature:
    def test_a_signed_request_is_answered_with_twiml(self, client: TestClient, database: Database) -> None:
        url = get_settings().public_base_url + "/ivr/voice"
        response = client.post(
            "/ivr/voice", data=PARAMS, headers={"X-Twilio-Signature": signature(url, PARAMS)}
        )
        assert response.status_code == 200
        assert response.text.startswith('<?xml version="1.0" encoding="UTF-8"?><Response>')
        assert _calls(database) == 1

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"X-Twilio-Signature": ""},
            {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        ],
        ids=["missing", "empty", "wrong"],
    )
    def test_missing_or_wrong_signature_is_403_and_changes_nothing(
        self, client: TestClient, database: Database, headers: dict[str, str]
    ) -> None:
        response = client.post("/ivr/voice", data=PARAMS, headers=headers)
        assert response.status_code == 403
        assert response.json()["code"] == "twilio_signature_invalid"
        assert _calls(database) == 0

    def test_another_auth_token_is_refused(self, client: TestClient, database: Database) -> None:
        url = get_settings().public_base_url + "/ivr/voice"
        forged = signature(url, PARAMS, token="not-our-token")
        assert (
            client.post("/ivr/voice", data=PARAMS, headers={"X-Twilio-Signature": forged}).status_code == 403
        )

    def test_a_changed_parameter_breaks_the_signature(self, client: TestClient, database: Database) -> None:
        url = get_settings().public_base_url + "/ivr/step/menu"
        good = signature(url, {**PARAMS, "Digits": "1"})
        response = client.post(
            "/ivr/step/menu", data={**PARAMS, "Digits": "2"}, headers={"X-Twilio-Signature": good}
        )
        assert response.status_code == 403

    def test_behind_a_tls_proxy_the_public_url_is_what_is_signed(
        self, client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The app is reached as http://testserver, Twilio called https://hotline.example.com: the signature
        over the public URL passes, one over the internal URL does not."""
        monkeypatch.setattr(get_settings(), "public_base_url", "https://hotline.example.com")
        public = "https://hotline.example.com/ivr/voice?lang=x"
        ok = client.post(
            "/ivr/voice?lang=x", data=PARAMS, headers={"X-Twilio-Signature": signature(public, PARAMS)}
        )
        assert ok.status_code == 200
        assert "https://hotline.example.com/ivr/step/language" in ok.text
        internal = "http://testserver/ivr/voice?lang=x"
        bad = client.post(
            "/ivr/voice?lang=x", data=PARAMS, headers={"X-Twilio-Signature": signature(internal, PARAMS)}
        )
        assert bad.status_code == 403

    def test_the_query_string_is_part_of_the_signature(self, client: TestClient, database: Database) -> None:
        url = get_settings().public_base_url + "/ivr/voice"
        response = client.post(
            "/ivr/voice?extra=1", data=PARAMS, headers={"X-Twilio-Signature": signature(url, PARAMS)}
        )
        assert response.status_code == 403

    def test_production_refuses_the_development_token(
        self, client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "environment", "production")
        phone = Phone(client)
        assert phone.start().status_code == 403
        assert _calls(database) == 0
