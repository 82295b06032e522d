"""TwiML answers, built with the twilio package's VoiceResponse. Every URL in them is absolute, from
ROAMCARD_PUBLIC_BASE_URL, so Twilio calls back through the public (TLS) front door."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from roamcard.config import get_settings
from roamcard.i18n import gettext
from roamcard.ivr.speech import SAY_LANGUAGES
from roamcard.ivr.states import Step

TWIML_MEDIA_TYPE = "text/xml"


def step_url(step: Step) -> str:
    return f"{get_settings().public_base_url}/ivr/step/{step.value}"


def voice_for(language: str) -> str:
    settings = get_settings()
    return settings.ivr_voice_zh if language == "zh-CN" else settings.ivr_voice_en


class Reply:
    """One answer to Twilio, in the caller's language: what to say, then what to gather or do."""

    def __init__(self, language: str | None) -> None:
        self.language = language or "zh-CN"
        self.response = VoiceResponse()
        self._said: list[tuple[str, str]] = []

    def say(self, message: str, *, language: str | None = None, **params: object) -> Reply:
        language = language or self.language
        text = gettext(message, language, **params)
        self.response.say(text, voice=voice_for(language), language=SAY_LANGUAGES[language])
        self._said.append((language, text))
        return self

    def say_text(self, text: str) -> Reply:
        """Text already in the caller's language (e.g. an error's localised detail)."""
        self.response.say(text, voice=voice_for(self.language), language=SAY_LANGUAGES[self.language])
        self._said.append((self.language, text))
        return self

    def gather(
        self,
        step: Step,
        prompts: list[tuple[str, dict[str, object]]],
        *,
        entry: bool,
        languages: tuple[str, ...] = (),
    ) -> Reply:
        """Ask and wait for keys. `entry`: digits ending with # (card number, password, PIN); otherwise
        one key. Silence falls through to the <Redirect>, which comes back to the same step without
        digits: the service counts that as a try."""
        settings = get_settings()
        options: dict[str, object] = {"finish_on_key": "#"} if entry else {"num_digits": 1}
        gather = self.response.gather(
            input="dtmf",
            action=step_url(step),
            method="POST",
            timeout=settings.ivr_gather_timeout_seconds,
            action_on_empty_result=False,
            **options,
        )
        spoken = languages or (self.language,)
        for (message, params), language in zip(prompts, spoken * len(prompts), strict=False):
            text = gettext(message, language, **params)
            gather.say(text, voice=voice_for(language), language=SAY_LANGUAGES[language])
            self._said.append((language, text))
        self.response.redirect(step_url(step), method="POST")
        return self

    def dial(self, number: str) -> Reply:
        self.response.dial(number)
        return self

    def hangup(self) -> Reply:
        self.response.hangup()
        return self

    @property
    def said(self) -> list[tuple[str, str]]:
        return list(self._said)

    def xml(self) -> str:
        return str(self.response.to_xml())
