from __future__ import annotations

from roamcard.catalog.repository import ProductRow
from roamcard.catalog.schemas import CustomAmountOut, ProductOut
from roamcard.catalog.states import ProductKind
from roamcard.config import get_settings
from roamcard.i18n import current_language
from roamcard.kit.schemas import MoneyOut
from roamcard.models import Product


def product_name(product: Product | ProductRow, language: str | None = None) -> str:
    return product.name_zh if (language or current_language()) == "zh-CN" else product.name_en


def product_out(product: Product, currency: str | None) -> ProductOut:
    price = None
    if currency and product.custom_min is None and currency in product.prices:
        price = MoneyOut(amount=product.prices[currency], currency=currency)
    return ProductOut(
        id=product.id,
        kind=ProductKind(product.kind),
        name=product_name(product),
        name_en=product.name_en,
        name_zh=product.name_zh,
        price=price,
        prices=product.prices,
        custom_amount=CustomAmountOut(
            min=product.custom_min, max=product.custom_max, currency=get_settings().wallet_currency
        )
        if product.custom_min is not None and product.custom_max is not None
        else None,
        unit_prices=product.unit_prices,
        grants=product.grants,
        validity_days=product.validity_days,
        coverage=product.coverage,
    )
