"""The card order's statements (the lean path)."""

from __future__ import annotations

from roamcard.card_order.states import OPEN_STATUSES

INSERT_CARD = (
    "INSERT INTO cards (card_number, password_hash, status, phone, language, currency, created_at) "
    "VALUES (:card_number, :password_hash, :status, :phone, :language, :currency, :at) RETURNING id"
)
INSERT_ORDER = (
    "INSERT INTO card_orders (id, status, topup_order_id, card_id, profile_id, token_hash, email, client_ip, "
    "created_at, updated_at) VALUES (:id, :status, :topup_order_id, :card_id, :profile_id, :token_hash, "
    ":email, :client_ip, :at, :at)"
)
# What issuing the card needs, read by the paying job's hook (by the top-up order it was paid through).
PAID = (
    "SELECT co.id, co.card_id, p.iccid, p.msisdn, c.phone, c.language, c.currency, co.profile_id "
    "FROM card_orders co "
    "JOIN esim_profiles p ON p.id = co.profile_id JOIN cards c ON c.id = co.card_id "
    "WHERE co.topup_order_id = :id"
)
_OPEN = ", ".join(f"'{s.value}'" for s in OPEN_STATUSES)
# Open card orders whose top-up order closed unpaid (expired, or failed at the gateway).
LAPSED = (
    "SELECT co.id, co.card_id, co.profile_id, o.status FROM card_orders co "  # noqa: S608 (constants)
    f"JOIN topup_orders o ON o.id = co.topup_order_id WHERE co.status IN ({_OPEN}) "
    "AND o.status IN ('expired', 'failed') ORDER BY co.created_at LIMIT :limit"
)
RELEASE_PROFILE = (
    "UPDATE esim_profiles SET status = 'available', card_id = NULL, allocated_at = NULL "
    "WHERE id = :profile_id AND card_id = :card_id AND status = 'allocated'"
)
READ = (
    "SELECT co.id, co.status, co.token_hash, co.created_at, co.paid_at, co.fulfilled_at, o.id, o.status, "
    "o.product_id, o.price_amount, o.price_currency, o.pay_by, c.card_number, p.msisdn, "
    "pay.id, pay.provider, pay.status, pay.checkout_url, pay.qr_code, co.card_id "
    "FROM card_orders co JOIN topup_orders o ON o.id = co.topup_order_id "
    "JOIN cards c ON c.id = co.card_id JOIN esim_profiles p ON p.id = co.profile_id "
    "LEFT JOIN payments pay ON pay.order_id = o.id WHERE co.id = :id ORDER BY pay.created_at DESC LIMIT 1"
)
