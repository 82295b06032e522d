"""Start-up checks of the SMS settings: a misconfiguration stops the process and names the setting.

Production fails closed: a route to `console` (messages only logged) or an unset brand name is an error
unless ROAMCARD_SMS_ALLOW_CONSOLE=true says this is a staging copy or a benchmark."""

from __future__ import annotations

from roamcard.config import DEVELOPMENT_SECRETS, Settings
from roamcard.notification.routing import InvalidRoutes, parse_routes


class SmsMisconfigured(ValueError):
    pass


def message_types() -> set[str]:
    """Every message type the code sends (the refund module adds its own)."""
    from roamcard.notification.templates import TEMPLATES
    from roamcard.refund import templates as _refund_templates  # noqa: F401

    return set(TEMPLATES)


def problems(settings: Settings) -> list[str]:
    try:
        routes = parse_routes(settings.sms_routes)
    except InvalidRoutes as exc:
        return [str(exc)]
    used = {name for _, providers in routes for name in providers}
    found: list[str] = []
    if settings.environment == "production" and not settings.sms_allow_console:
        if "console" in used:
            found.append(
                "ROAMCARD_SMS_ROUTES routes messages to console, which only logs them: route to aliyun, "
                "twilio or smpp (or set ROAMCARD_SMS_ALLOW_CONSOLE=true on a staging copy)"
            )
        for name in ("brand_name_zh", "brand_name_en"):
            if not getattr(settings, name):
                found.append(f"ROAMCARD_{name.upper()} must be set: every SMS starts with the brand")
    if "aliyun" in used:
        for name in ("aliyun_sms_access_key_id", "aliyun_sms_access_key_secret", "aliyun_sms_sign_name"):
            if not getattr(settings, name):
                found.append(f"ROAMCARD_{name.upper()} must be set to send through Alibaba Cloud SMS")
        missing = sorted(t for t in message_types() if not settings.aliyun_sms_templates.get(t))
        if missing:
            found.append("ROAMCARD_ALIYUN_SMS_TEMPLATES has no template code for: " + ", ".join(missing))
    if "twilio" in used:
        if not settings.twilio_account_sid:
            found.append("ROAMCARD_TWILIO_ACCOUNT_SID must be set to send through Twilio")
        if not settings.twilio_messaging_service_sid and not settings.twilio_from_number:
            found.append("ROAMCARD_TWILIO_MESSAGING_SERVICE_SID or ROAMCARD_TWILIO_FROM_NUMBER must be set")
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
        if not token or (settings.environment == "production" and token in DEVELOPMENT_SECRETS):
            found.append("ROAMCARD_TWILIO_AUTH_TOKEN must be set to the account's auth token")
    if "smpp" in used:
        for name in ("smpp_host", "smpp_system_id", "smpp_password", "smpp_source_addr"):
            if not getattr(settings, name):
                found.append(f"ROAMCARD_{name.upper()} must be set to send over SMPP")
    return found


def check_sms_settings(settings: Settings) -> None:
    found = problems(settings)
    if found:
        raise SmsMisconfigured("; ".join(found))
