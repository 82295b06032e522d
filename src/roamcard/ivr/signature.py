"""X-Twilio-Signature: HMAC over the URL Twilio called plus the sorted POST parameters.

The URL is rebuilt from ROAMCARD_PUBLIC_BASE_URL (+ path + query), not from the request's own scheme and
host: behind a TLS proxy the app sees http://10.0.0.5:8000/..., Twilio signed https://hotline.example.com/...
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import URL
from twilio.request_validator import RequestValidator, get_signature_algorithm

from roamcard.config import DEVELOPMENT_SECRETS, get_settings
from roamcard.errors import AppError


class TwilioSignatureInvalid(AppError):
    status_code = 403
    code = "twilio_signature_invalid"
    message = "The request signature is not valid."


class HotlineNotConfigured(AppError):
    status_code = 403
    code = "hotline_not_configured"
    message = "The hotline is not configured."


def public_url(url: URL) -> str:
    public = get_settings().public_base_url + url.path
    return f"{public}?{url.query}" if url.query else public


def auth_token() -> str:
    settings = get_settings()
    token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if not token or (settings.environment == "production" and token in DEVELOPMENT_SECRETS):
        raise HotlineNotConfigured()
    return token


def verify(url: URL, params: Mapping[str, str], signature: str | None, settings_header: str | None) -> None:
    if not signature:
        raise TwilioSignatureInvalid()
    validator = RequestValidator(auth_token())
    if not validator.validate(
        public_url(url), dict(params), signature, get_signature_algorithm(settings_header)
    ):
        raise TwilioSignatureInvalid()


def sign(url: str, params: Mapping[str, str], token: str | None = None) -> str:
    """What Twilio sends: used by `roamcard ivr-sim` and the tests."""
    return str(RequestValidator(token or auth_token()).compute_signature(url, dict(params)))
