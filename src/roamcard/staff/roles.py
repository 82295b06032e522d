"""Roles and what each may do: one table, checked by every back-office route."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    FINANCE = "finance"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW_CARD = "view_card"
    SEND_PAYMENT_LINK = "send_payment_link"
    REDEEM_VOUCHER = "redeem_voucher"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a permission name)
    SUSPEND_CARD = "suspend_card"
    UNSUSPEND_CARD = "unsuspend_card"
    RESEND_RECEIPT = "resend_receipt"
    DECIDE_REFUND = "decide_refund"
    VIEW_AUDIT = "view_audit"
    # Payments needing attention (final sweep, held notifications) and chargebacks (issue 9).
    VIEW_PAYMENT_ISSUES = "view_payment_issues"
    DECIDE_DISPUTE = "decide_dispute"
    # eSIM (issue 13): a fresh profile for one stuck in error or deleted; cancel an undelivered card order.
    REISSUE_ESIM = "reissue_esim"
    CANCEL_CARD_ORDER = "cancel_card_order"
    # Promotions (issue 12): every role sees campaigns, their counters and the price preview;
    # supervisors and admins pause, resume and end them.
    VIEW_CAMPAIGNS = "view_campaigns"
    MANAGE_CAMPAIGNS = "manage_campaigns"
    # Emergency (issue 15): an agent sets a caller's emergency contacts (audited); SOS are shown to VIEW_CARD.
    EDIT_EMERGENCY_CONTACTS = "edit_emergency_contacts"
    # Jobs (issue 16): supervisors and admins see the queue with last errors; only an admin retries or
    # discards a dead job (it re-runs work that may move money or send SMS).
    VIEW_JOBS = "view_jobs"
    MANAGE_JOBS = "manage_jobs"
    # Refunds history (issue 16): finance and admin read every refund; deciding stays DECIDE_REFUND.
    VIEW_REFUNDS = "view_refunds"
    # Staff accounts (issue 16, was CLI only): an admin creates accounts, changes roles, resets TOTP.
    MANAGE_STAFF = "manage_staff"
    # Dealers (issue 16, was CLI only): finance and admin see them; an admin creates, suspends, resumes
    # and rotates keys; crediting a float records money received, so it stays with finance.
    VIEW_DEALERS = "view_dealers"
    MANAGE_DEALERS = "manage_dealers"
    CREDIT_DEALER_FLOAT = "credit_dealer_float"


P = Permission
_AGENT = {
    P.VIEW_CARD,
    P.SEND_PAYMENT_LINK,
    P.REDEEM_VOUCHER,
    P.RESET_PASSWORD,
    # An agent suspends a card reported lost at once; lifting a suspension needs a supervisor.
    P.SUSPEND_CARD,
    P.RESEND_RECEIPT,
    P.VIEW_CAMPAIGNS,
    P.EDIT_EMERGENCY_CONTACTS,
}
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.AGENT: frozenset(_AGENT),
    Role.SUPERVISOR: frozenset(
        _AGENT
        | {P.UNSUSPEND_CARD, P.VIEW_AUDIT, P.VIEW_PAYMENT_ISSUES, P.REISSUE_ESIM, P.CANCEL_CARD_ORDER}
        | {P.MANAGE_CAMPAIGNS, P.VIEW_JOBS}
    ),
    # Money decisions stay with finance (separation of duties): not even an admin approves a refund.
    Role.FINANCE: frozenset(
        {
            P.VIEW_CARD,
            P.RESEND_RECEIPT,
            P.DECIDE_REFUND,
            P.VIEW_PAYMENT_ISSUES,
            P.DECIDE_DISPUTE,
            P.VIEW_CAMPAIGNS,
            P.VIEW_REFUNDS,
            P.VIEW_DEALERS,
            P.CREDIT_DEALER_FLOAT,
        }
    ),
    # An admin has every supervisor right (docs/operations.md: reissue is "`supervisor` or `admin`").
    Role.ADMIN: frozenset(
        _AGENT
        | {P.UNSUSPEND_CARD, P.VIEW_AUDIT, P.VIEW_PAYMENT_ISSUES, P.REISSUE_ESIM, P.CANCEL_CARD_ORDER}
        | {P.MANAGE_CAMPAIGNS, P.VIEW_JOBS, P.MANAGE_JOBS, P.VIEW_REFUNDS, P.MANAGE_STAFF}
        | {P.VIEW_DEALERS, P.MANAGE_DEALERS}
    ),
}


def can(role: str, permission: Permission) -> bool:
    try:
        return permission in PERMISSIONS[Role(role)]
    except ValueError:
        return False
