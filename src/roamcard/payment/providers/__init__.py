"""Payment providers behind one interface; `sandbox` ships, real gateways plug in beside it."""

from __future__ import annotations

from roamcard.payment.providers.base import PaymentProvider
from roamcard.payment.providers.sandbox import SandboxProvider

_providers: dict[str, PaymentProvider] = {}


def get_provider(name: str) -> PaymentProvider:
    if not _providers:
        _providers["sandbox"] = SandboxProvider()
    return _providers[name]


def available_methods() -> list[str]:
    get_provider("sandbox")
    return sorted(_providers)


def register(provider: PaymentProvider) -> None:
    """Tests and real gateways install providers here."""
    _providers[provider.name] = provider


def reset() -> None:
    _providers.clear()
