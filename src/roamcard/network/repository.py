"""The card's last network, in hand-written SQL (it is written on the charging hot path)."""

from __future__ import annotations

# The common case, one statement: the card is still in the same country (`IS` is SQLite's spelling of
# `IS NOT DISTINCT FROM`: an unknown country matches an unknown country).
MOVE_WITHIN_COUNTRY = (
    "UPDATE card_networks SET mcc = :mcc, mnc = :mnc, operator = :operator, seen_at = :at "
    "WHERE card_id = :card_id AND country IS NOT DISTINCT FROM :country AND seen_at < :at"
)
MOVE_WITHIN_COUNTRY_SQLITE = (
    "UPDATE card_networks SET mcc = :mcc, mnc = :mnc, operator = :operator, seen_at = :at "
    "WHERE card_id = :card_id AND country IS :country AND seen_at < :at"
)

# Otherwise (first sighting, another country, or an older report), one statement, both engines: the first
# sighting inserts the row, a later one replaces it, and an older one (a report that arrives after a newer
# one) changes nothing.
RECORD_SEEN = (
    "INSERT INTO card_networks (card_id, mcc, mnc, country, operator, seen_at) "
    "VALUES (:card_id, :mcc, :mnc, :country, :operator, :at) "
    "ON CONFLICT (card_id) DO UPDATE SET mcc = excluded.mcc, mnc = excluded.mnc, "
    "country = excluded.country, operator = excluded.operator, seen_at = excluded.seen_at "
    "WHERE card_networks.seen_at < excluded.seen_at"
)

LAST_SEEN = "SELECT mcc, mnc, country, operator, seen_at FROM card_networks WHERE card_id = :card_id"

# With the holder's switch for the welcome SMS (an optional alert, card/settings.py).
CARD_RECIPIENT = "SELECT id, phone, language, alert_new_country FROM cards WHERE id = :card_id"
