"""Refund SMS templates, added to the notification templates (English msgids, zh-CN in payments.po)."""

from __future__ import annotations

from roamcard.i18n import lazy
from roamcard.notification.templates import TEMPLATES

REFUND_TEMPLATES: dict[str, str] = {
    "refund_succeeded": lazy(
        "[Roamcard] Your refund {refund_id} of {amount} for recharge {order_id} is complete. "
        "It goes back to the account you paid with."
    ),
    "refund_rejected": lazy(
        "[Roamcard] Your refund request {refund_id} for recharge {order_id} was not approved. "
        "Call customer service with any question."
    ),
    "refund_failed": lazy(
        "[Roamcard] Your refund {refund_id} for recharge {order_id} could not be paid back; "
        "its value is on your card again. Call customer service."
    ),
}
TEMPLATES.update(REFUND_TEMPLATES)
