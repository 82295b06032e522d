from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from roamcard.kit.schemas import MoneyOut
from roamcard.models import Refund


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Annotated[
        int | None,
        Field(
            strict=True,
            gt=0,
            description="Money to pay back, minor units of the price's currency; leave out for all that "
            "can be refunded.",
        ),
    ] = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class RefundOut(BaseModel):
    id: str
    topup_id: str
    kind: str
    status: str
    amount: MoneyOut
    reason: str
    decision_reason: str | None
    created_at: datetime
    decided_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            id=refund.id,
            topup_id=refund.order_id,
            kind=refund.kind,
            status=refund.status,
            amount=MoneyOut(amount=refund.amount, currency=refund.currency),
            reason=refund.reason,
            decision_reason=refund.decision_reason,
            created_at=refund.created_at,
            decided_at=refund.decided_at,
            completed_at=refund.completed_at,
        )


class RefundList(BaseModel):
    refundable: MoneyOut = Field(description="What of this recharge may still be refunded.")
    partial: bool = Field(description="Whether less than `refundable` may be asked for.")
    data: list[RefundOut]
