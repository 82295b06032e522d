"""`roamcard ivr-sim`: walk the hotline in a terminal through the same HTTP endpoints Twilio calls.

It posts what Twilio posts, signed as Twilio signs (X-Twilio-Signature over the public URL the TwiML names,
with ROAMCARD_TWILIO_AUTH_TOKEN), prints every <Say>, reads keys for each <Gather> (an empty line is
silence: it follows the <Redirect>, like a Gather that timed out), and stops at <Dial> or <Hangup>.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from roamcard.ivr import signature

# Steps whose keys are secret: read without echo.
SECRET_STEPS = ("/ivr/step/password", "/ivr/step/pin")
MAX_TURNS = 200


@dataclass
class Answer:
    said: list[tuple[str, str]] = field(default_factory=list)
    gather_action: str | None = None
    redirect: str | None = None
    dial: str | None = None
    hangup: bool = False


def parse(twiml: str) -> Answer:
    answer = Answer()
    for element in ET.fromstring(twiml).iter():  # noqa: S314 (our own server's TwiML)
        if element.tag == "Say":
            answer.said.append((element.attrib.get("language", ""), element.text or ""))
        elif element.tag == "Gather":
            answer.gather_action = element.attrib.get("action")
        elif element.tag == "Redirect":
            answer.redirect = element.text
        elif element.tag == "Dial":
            answer.dial = element.text
        elif element.tag == "Hangup":
            answer.hangup = True
    return answer


class Simulator:
    """One simulated call. `server_url` is where requests go; `public_base_url` is what Twilio would call
    (and sign): the two differ behind a proxy."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        public_base_url: str,
        auth_token: str,
        caller: str,
        say: Callable[[str, str], None],
        keys: Callable[[bool], str],
        call_sid: str | None = None,
    ) -> None:
        self.http = http
        self.public_base_url = public_base_url.rstrip("/")
        self.auth_token = auth_token
        self.caller = caller
        self.say = say
        self.keys = keys
        self.call_sid = call_sid or "CAsim" + secrets.token_hex(15)

    def post(self, url: str, digits: str | None = None) -> Answer:
        params = {"CallSid": self.call_sid, "From": self.caller, "To": "hotline", "CallStatus": "in-progress"}
        if digits is not None:
            params["Digits"] = digits
        path = url[len(self.public_base_url) :] if url.startswith(self.public_base_url) else url
        response = self.http.post(
            path, data=params, headers={"X-Twilio-Signature": signature.sign(url, params, self.auth_token)}
        )
        response.raise_for_status()
        return parse(response.text)

    def run(self) -> str:
        """Returns how the call ended: `hangup`, `dial:<number>` or `stopped`."""
        answer = self.post(self.public_base_url + "/ivr/voice")
        for _ in range(MAX_TURNS):
            for language, text in answer.said:
                self.say(language, text)
            if answer.dial:
                return f"dial:{answer.dial}"
            if answer.hangup:
                return "hangup"
            if answer.gather_action:
                secret = answer.gather_action.endswith(SECRET_STEPS)
                typed = self.keys(secret).strip().rstrip("#")
                if typed:
                    answer = self.post(answer.gather_action, typed)
                    continue
            if answer.redirect:
                answer = self.post(answer.redirect)
                continue
            return "stopped"
        return "stopped"


def open_client(server_url: str) -> httpx.Client:
    return httpx.Client(base_url=server_url.rstrip("/"), timeout=30)
