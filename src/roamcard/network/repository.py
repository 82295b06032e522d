"""The card's last network, in hand-written SQL (it is written on the charging hot path)."""

from __future__ import annotations

# One statement, both engines: the first sighting inserts the row, a later one replaces it, and an older one
# (a report that arrives after a newer one) changes nothing.
RECORD_SEEN = (
    "INSERT INTO card_networks (card_id, mcc, mnc, country, operator, seen_at) "
    "VALUES (:card_id, :mcc, :mnc, :country, :operator, :at) "
    "ON CONFLICT (card_id) DO UPDATE SET mcc = excluded.mcc, mnc = excluded.mnc, "
    "country = excluded.country, operator = excluded.operator, seen_at = excluded.seen_at "
    "WHERE card_networks.seen_at < excluded.seen_at"
)

LAST_SEEN = "SELECT mcc, mnc, country, operator, seen_at FROM card_networks WHERE card_id = :card_id"
