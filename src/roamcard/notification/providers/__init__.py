from __future__ import annotations

from roamcard.notification.providers.base import SmsProvider
from roamcard.notification.providers.console import ConsoleProvider

_provider: SmsProvider | None = None


def get_provider() -> SmsProvider:
    global _provider
    if _provider is None:
        _provider = ConsoleProvider()
    return _provider


def set_provider(provider: SmsProvider | None) -> None:
    global _provider
    _provider = provider
