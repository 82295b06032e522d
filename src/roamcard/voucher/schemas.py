from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class VoucherRedeem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: Annotated[
        str,
        Field(
            min_length=1,
            max_length=64,
            description="The 16-digit recharge PIN under the scratch panel; spaces and dashes are ignored.",
            examples=["1234 5678 9012 3456"],
        ),
    ]
