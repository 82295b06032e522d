"""`roamcard ivr-sim`: a person walks the whole hotline through the signed HTTP endpoints."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.ivr import prompts, simulator
from roamcard.models import Card
from tests.ivr.conftest import PASSWORD

runner = CliRunner()


@pytest.fixture
def through_test_client(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setattr(simulator, "open_client", lambda _url: client)
    return client


class TestIvrSim:
    def test_walks_sign_in_balance_and_goodbye_in_english(
        self, through_test_client: TestClient, english_card: Card
    ) -> None:
        keys = ["2", english_card.card_number + "#", PASSWORD, "1", "", "", ""]
        result = runner.invoke(app, ["ivr-sim", "--from", "+14155550123"], input="\n".join(keys) + "\n")
        assert result.exit_code == 0, result.output
        output = result.output
        assert prompts.ENTER_CARD_NUMBER in output
        assert "Your balance is $0.00." in output
        assert prompts.NO_INPUT in output
        assert prompts.GAVE_UP in output  # three silences at the menu
        assert "call ended" in output
        assert PASSWORD not in output  # the password is read without echo

    def test_a_wrong_signature_token_is_refused_by_the_server(
        self, through_test_client: TestClient, english_card: Card
    ) -> None:
        call = simulator.Simulator(
            through_test_client,
            public_base_url="http://testserver",
            auth_token="not-the-token",
            caller="+14155550123",
            say=lambda _language, _text: None,
            keys=lambda _secret: "",
        )
        with pytest.raises(Exception, match="403"):
            call.run()
