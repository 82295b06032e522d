"""SMS providers by name, built from settings on first use. Tests install fakes with `install`."""

from __future__ import annotations

from collections.abc import Callable

from roamcard.notification.providers.base import Report, SmsProvider
from roamcard.notification.providers.console import ConsoleProvider

NAMES = ("aliyun", "twilio", "smpp", "console")

_providers: dict[str, SmsProvider] = {}


def _build(name: str) -> SmsProvider:
    if name == "console":
        return ConsoleProvider()
    if name == "twilio":
        from roamcard.notification.providers.twilio import TwilioSmsProvider

        return TwilioSmsProvider.from_settings()
    if name == "aliyun":
        from roamcard.notification.providers.aliyun import AliyunSmsProvider

        return AliyunSmsProvider.from_settings()
    if name == "smpp":
        from roamcard.notification.providers.smpp import SmppProvider
        from roamcard.notification.service import record_receipt

        def on_receipt(reference: str, report: Report, phone: str) -> None:
            record_receipt("smpp", reference, report, phone)

        return SmppProvider.from_settings(on_receipt=on_receipt)
    raise LookupError(f"no SMS provider named {name!r}")


def get_provider(name: str = "console") -> SmsProvider:
    if name not in _providers:
        _providers[name] = _build(name)
    return _providers[name]


def install(name: str, provider: SmsProvider) -> None:
    _providers[name] = provider


def set_provider(provider: SmsProvider | None) -> None:
    """Replace the console provider (a fake), or with None forget every provider built so far."""
    if provider is None:
        for built in list(_providers.values()):
            close: Callable[[], None] | None = getattr(built, "close", None)
            if close is not None:
                close()
        _providers.clear()
        return
    _providers["console"] = provider


__all__ = ["NAMES", "SmsProvider", "get_provider", "install", "set_provider"]
