"""SMS templates. Each is an English msgid, translated through the zh-CN catalogue."""

from __future__ import annotations

from roamcard.i18n import lazy

TEMPLATES: dict[str, str] = {
    "topup_fulfilled": lazy(
        "[Roamcard] Your recharge {order_id} is complete: {product}. Balance: {balance}. "
        "Emergency numbers are always free."
    ),
}
