"""A telephone for tests: posts what Twilio posts, signed the way Twilio signs (the twilio package's
RequestValidator.compute_signature over the public URL and the POST parameters), and reads the TwiML back."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from fastapi.testclient import TestClient
from httpx import Response
from twilio.request_validator import RequestValidator

from roamcard.config import get_settings

_calls = itertools.count(1)


@dataclass
class Turn:
    """One TwiML answer, read back."""

    status_code: int
    said: list[tuple[str, str]] = field(default_factory=list)  # (language, text)
    gather: dict[str, str] | None = None
    redirect: str | None = None
    dial: str | None = None
    hangup: bool = False
    xml: str = ""

    @property
    def text(self) -> str:
        return " ".join(text for _, text in self.said)

    @property
    def languages(self) -> set[str]:
        return {language for language, _ in self.said}


def read_twiml(response: Response) -> Turn:
    turn = Turn(status_code=response.status_code, xml=response.text)
    if response.status_code != 200:
        return turn
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)  # noqa: S314 (our own answer, in a test)
    assert root.tag == "Response"
    for element in root.iter():
        if element.tag == "Say":
            turn.said.append((element.attrib["language"], element.text or ""))
        elif element.tag == "Gather":
            turn.gather = dict(element.attrib)
        elif element.tag == "Redirect":
            turn.redirect = element.text
        elif element.tag == "Dial":
            turn.dial = element.text
        elif element.tag == "Hangup":
            turn.hangup = True
    return turn


def signature(url: str, params: dict[str, str], token: str | None = None) -> str:
    token = token or get_settings().twilio_auth_token.get_secret_value()
    return str(RequestValidator(token).compute_signature(url, params))


class Phone:
    """One call. `public_url` is the URL Twilio thinks it calls (ROAMCARD_PUBLIC_BASE_URL); the request goes
    to the test client at the same path."""

    def __init__(
        self, client: TestClient, caller: str = "+8613800138000", call_sid: str | None = None
    ) -> None:
        self.client = client
        self.caller = caller
        self.call_sid = call_sid or f"CA{next(_calls):032d}"
        self.last: Turn | None = None

    def post(self, url: str, extra: dict[str, str] | None = None, *, sign_url: str | None = None) -> Turn:
        params = {
            "CallSid": self.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.caller,
            "To": "+18005550199",
            "CallStatus": "in-progress",
            "Direction": "inbound",
            **(extra or {}),
        }
        base = get_settings().public_base_url
        assert url.startswith(base), url
        path = url[len(base) :]
        headers = {"X-Twilio-Signature": signature(sign_url or url, params)}
        self.last = read_twiml(self.client.post(path, data=params, headers=headers))
        return self.last

    def start(self) -> Turn:
        return self.post(get_settings().public_base_url + "/ivr/voice")

    def press(self, digits: str) -> Turn:
        assert self.last is not None
        assert self.last.gather is not None, "nothing is waiting for keys"
        return self.post(self.last.gather["action"], {"Digits": digits, "FinishedOnKey": "#"})

    def stay_silent(self) -> Turn:
        """Let the <Gather> time out: Twilio follows the <Redirect> (no Digits)."""
        assert self.last is not None
        assert self.last.redirect is not None
        return self.post(self.last.redirect)

    def sign_in(self, card_number: str, password: str, *, language: str = "1") -> Turn:
        self.start()
        self.press(language)
        self.press(card_number)
        return self.press(password)
