from __future__ import annotations

from datetime import datetime

from roamcard.card.service import CardOverview
from roamcard.kit.schemas import MoneyOut, Schema


class AllowanceOut(Schema):
    kind: str
    remaining: int
    total: int
    expires_at: datetime
    product_id: str | None


class CardOut(Schema):
    card_number: str
    status: str
    phone: str
    language: str
    balance: MoneyOut
    allowances: list[AllowanceOut]

    @classmethod
    def of(cls, view: CardOverview) -> CardOut:
        return cls(
            card_number=view.card.card_number,
            status=view.card.status,
            phone=view.card.phone,
            language=view.card.language,
            balance=MoneyOut.of(view.balance),
            allowances=[AllowanceOut.model_validate(a) for a in view.allowances],
        )
