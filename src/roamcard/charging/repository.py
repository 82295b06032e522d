"""Hand-written SQL of the charging path (the lean path: every statement is on a hot path)."""

from __future__ import annotations

# -- network elements -------------------------------------------------------------------------------------
ELEMENT_BY_KEY_HASH = "SELECT id FROM network_elements WHERE key_hash = :key_hash AND revoked_at IS NULL"
INSERT_ELEMENT = (
    "INSERT INTO network_elements (public_id, name, key_hash, created_at) "
    "VALUES (:public_id, :name, :key_hash, :now) ON CONFLICT DO NOTHING RETURNING id"
)
REVOKE_ELEMENT = "UPDATE network_elements SET revoked_at = :now WHERE name = :name AND revoked_at IS NULL"

# -- subscribers: the card of an eSIM profile's IMSI or MSISDN, or of an ICCID ----------------------------
_CARD = "SELECT c.id, c.status, c.currency FROM esim_profiles p JOIN cards c ON c.id = p.card_id "
CARD_BY_IMSI = _CARD + "WHERE p.imsi = :value ORDER BY p.retired_at IS NULL DESC, p.id DESC LIMIT 1"
CARD_BY_MSISDN = _CARD + "WHERE p.msisdn = :value LIMIT 1"
CARD_BY_ICCID = _CARD + "WHERE p.iccid = :value LIMIT 1"
# Lock order (docs/CONVENTIONS.md): the card before its ledger rows. One card's charging queues here on
# PostgreSQL, so what a grant reads of its packs and wallet stays true until it is reserved.
LOCK_CARD = "SELECT status FROM cards WHERE id = :card_id FOR UPDATE"
CARD_STATUS = "SELECT status FROM cards WHERE id = :card_id"

# -- sessions and their requests ----------------------------------------------------------------------------
INSERT_SESSION = (
    "INSERT INTO charging_sessions (ref, card_id, network_element_id, country, mcc, mnc, called, status, "
    "created_at, updated_at) VALUES (:ref, :card_id, :element_id, :country, :mcc, :mnc, :called, 'open', "
    ":now, :now) RETURNING id"
)
SESSION_BY_REF = (
    "SELECT s.id, s.card_id, s.status, s.country, s.called, c.currency FROM charging_sessions s "
    "JOIN cards c ON c.id = s.card_id WHERE s.ref = :ref AND s.network_element_id = :element_id"
)
MOVE_SESSION = (
    "UPDATE charging_sessions SET country = :country, mcc = :mcc, mnc = :mnc, updated_at = :now "
    "WHERE id = :id"
)
CLAIM_REQUEST = (
    "INSERT INTO charging_requests (session_id, sequence_number, operation, created_at) "
    "VALUES (:session_id, :sequence_number, :operation, :now) ON CONFLICT DO NOTHING RETURNING id"
)
REQUEST_ANSWER = (
    "SELECT status_code, response FROM charging_requests "
    "WHERE session_id = :session_id AND sequence_number = :sequence_number"
)
ANSWER_REQUEST = (
    "UPDATE charging_requests SET status_code = :status_code, response = :response WHERE id = :id"
)

# -- rating -------------------------------------------------------------------------------------------------
RATING_GROUP_KIND = "SELECT kind FROM rating_groups WHERE rating_group = :rating_group"
ZONES = "SELECT code, countries, prices FROM rating_zones"
# Live packs of one asset with what they can still give (balance - pending), earliest expiry first, with the
# coverage of the product they came with (a promotion's bonus pack carries its order's product).
LIVE_PACKS = (
    "SELECT a.id, a.account_id, acc.code, acc.balance - acc.pending, a.expires_at, p.coverage "
    "FROM allowances a JOIN ledger_accounts acc ON acc.id = a.account_id "
    "LEFT JOIN products p ON p.id = a.product_id "
    "WHERE a.card_id = :card_id AND a.asset = :asset AND a.expires_at > :now AND a.expired_at IS NULL "
    "ORDER BY a.expires_at, a.id"
)

# -- grant slices -------------------------------------------------------------------------------------------
INSERT_GRANT = (
    "INSERT INTO charging_grants (session_id, card_id, rating_group, kind, source, allowance_id, "
    "reservation_id, country, units_granted, price_amount, price_currency, created_at) VALUES "
    "(:session_id, :card_id, :rating_group, :kind, :source, :allowance_id, :reservation_id, :country, "
    ":units, :price_amount, :price_currency, :now)"
)
OPEN_GRANTS = (
    "SELECT id, source, reservation_id, units_granted, price_amount, kind, card_id, allowance_id, "
    "price_currency FROM charging_grants "
    "WHERE session_id = :session_id AND rating_group = :rating_group AND settled_at IS NULL ORDER BY id"
)
OPEN_GRANTS_OF_SESSION = (
    "SELECT DISTINCT rating_group FROM charging_grants WHERE session_id = :session_id AND settled_at IS NULL"
)
SETTLE_GRANT = (
    "UPDATE charging_grants SET units_used = :used, charged_amount = :charged, settled_at = :now "
    "WHERE id = :id AND settled_at IS NULL"
)

# -- usage alerts (service/alerts.py) -----------------------------------------------------------------------
# The one statement the charging path adds per posting: the pack's size and what its account holds now
# (this transaction has just moved it, so the row is ours until commit).
PACK_USE = (
    "SELECT a.total, acc.balance FROM allowances a JOIN ledger_accounts acc ON acc.id = a.account_id "
    "WHERE a.id = :id"
)
RESERVED_ACCOUNT_BALANCE = (
    "SELECT acc.balance FROM ledger_reservations r JOIN ledger_accounts acc ON acc.id = r.account_id "
    "WHERE r.id = :id"
)
PACK_NAME = (
    "SELECT a.asset, p.name_zh, p.name_en FROM allowances a LEFT JOIN products p ON p.id = a.product_id "
    "WHERE a.id = :id"
)
_RECIPIENT = "SELECT id, phone, language, {column} FROM cards WHERE id = :card_id"
ALERT_RECIPIENT = {
    switch: _RECIPIENT.format(column=f"alert_{switch}")
    for switch in ("pack_usage", "low_balance", "pack_expiry", "new_country")
}
# Packs with something left expiring in (lower, upper] whose reminder `suffix` is not queued yet, of active
# cards whose holder wants reminders. The outbox key is built in SQL (`||` on both engines).
EXPIRING_PACKS = (
    "SELECT a.card_id, a.id, a.asset, a.expires_at, p.name_zh, p.name_en, c.phone, c.language "
    "FROM allowances a JOIN ledger_accounts acc ON acc.id = a.account_id "
    "JOIN cards c ON c.id = a.card_id LEFT JOIN products p ON p.id = a.product_id "
    "WHERE a.expired_at IS NULL AND a.expires_at > :lower AND a.expires_at <= :upper "
    "AND a.expires_at > :now AND acc.balance > 0 AND c.status = 'active' AND c.alert_pack_expiry "
    'AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n."key" = '
    "CAST(a.card_id AS VARCHAR(20)) || ':pack:' || CAST(a.id AS VARCHAR(20)) || ':expiry:' || :suffix) "
    "ORDER BY a.expires_at, a.id LIMIT :limit"
)
