"""SMS templates. Each is an English msgid, translated through the zh-CN catalogue."""

from __future__ import annotations

from roamcard.i18n import lazy

TEMPLATES: dict[str, str] = {
    "topup_fulfilled": lazy(
        "[Roamcard] Your recharge {order_id} is complete: {product}. Balance: {balance}. "
        "Emergency numbers are always free."
    ),
    "phone_change_code": lazy(
        "[Roamcard] Your verification code is {code}. It binds this number to card {card_tail} "
        "and expires in {minutes} minutes. Never share it."
    ),
    "phone_changed": lazy(
        "[Roamcard] The phone number bound to card {card_tail} was changed to {phone}. "
        "If this was not you, call customer service."
    ),
    "password_changed": lazy(
        "[Roamcard] The service password of card {card_tail} was changed. "
        "If this was not you, call customer service."
    ),
    # The phone channel (IVR hotline and agent console).
    "payment_link": lazy(
        "[Roamcard] Recharge card {card_tail} with {product} for {price}: pay at {url} "
        "(valid {minutes} minutes)."
    ),
    "password_reset": lazy(
        "[Roamcard] Customer service reset the service password of card {card_tail}. "
        "New password: {password}. Never share it."
    ),
    "receipt": lazy("[Roamcard] Receipt for recharge {order_id}: {product}, paid {price}. Completed."),
}
