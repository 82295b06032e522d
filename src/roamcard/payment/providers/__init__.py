"""Payment providers behind one interface. The sandbox is always there (in-process); a real gateway is
offered only when its settings are complete, so configuration alone decides what a card holder sees."""

from __future__ import annotations

from typing import Any

from roamcard.config import Settings, get_settings
from roamcard.payment.providers.base import PaymentProvider
from roamcard.payment.providers.sandbox import SandboxProvider

_providers: dict[str, Any] = {}
_configured = False


def _configure(settings: Settings) -> None:
    from roamcard.payment.providers import alipay, stripe, wechat_pay

    _providers.setdefault("sandbox", SandboxProvider())
    for module in (alipay, wechat_pay, stripe):
        provider = module.from_settings(settings)
        if provider is not None:
            _providers.setdefault(provider.name, provider)


def _ensure() -> None:
    global _configured
    if not _configured:
        _configured = True
        _configure(get_settings())


def get_provider(name: str) -> Any:
    """The provider a payment was opened with (`Payment.provider`)."""
    _ensure()
    return _providers[name]


def provider_for_method(method: str) -> Any:
    """The provider behind what the card holder picked (`card` is Stripe)."""
    _ensure()
    for provider in _providers.values():
        if method_of(provider) == method:
            return provider
    raise KeyError(method)


def method_of(provider: Any) -> str:
    return str(getattr(provider, "method", provider.name))


def is_remote(provider: Any) -> bool:
    return bool(getattr(provider, "remote", False))


def accepts_currency(provider: Any, currency: str) -> bool:
    currencies = getattr(provider, "currencies", None)
    return currencies is None or currency in currencies


def available_methods() -> list[str]:
    _ensure()
    return sorted(method_of(provider) for provider in _providers.values())


def register(provider: PaymentProvider | Any) -> None:
    """Tests and real gateways install providers here."""
    _ensure()
    _providers[provider.name] = provider


def reset() -> None:
    global _configured
    _providers.clear()
    _configured = False
