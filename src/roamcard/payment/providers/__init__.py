"""Payment providers behind one interface. The sandbox (in-process) is there unless switched off, as it
is by default in production; a real gateway is offered only when its settings are complete, so
configuration alone decides what a card holder sees."""

from __future__ import annotations

from typing import Any

from roamcard.config import Settings, get_settings
from roamcard.payment.providers import alipay, stripe, wechat_pay
from roamcard.payment.providers.base import PaymentProvider
from roamcard.payment.providers.sandbox import SandboxProvider

_providers: dict[str, Any] = {}
_configured = False


def configure(settings: Settings) -> None:
    """Offer what these settings configure (done once, lazily, from the process's settings)."""
    global _configured
    _configured = True
    if settings.sandbox_enabled:
        _providers.setdefault("sandbox", SandboxProvider())
    for module in (alipay, wechat_pay, stripe):
        provider = module.from_settings(settings)
        if provider is not None:
            _providers.setdefault(provider.name, provider)


def _ensure() -> None:
    if not _configured:
        configure(get_settings())


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
