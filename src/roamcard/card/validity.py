"""The card's validity (保号): every recharge keeps the line alive; a card nobody recharges lapses.

* `extend` runs inside every recharge's fulfilment (`topup.service.fulfil._credit`, the one credit that
  every channel uses: online, voucher, dealer POS, partner, IVR): one UPDATE of the card moves
  `valid_until` to max(now, valid_until) + the product's `validity_days_per_recharge` (the setting when the
  catalogue names none) and clears the reminders. Only an `expired` card (rare) takes a second step: the
  transition `expired → active` with the new date, recorded in the card's history.
* `sweep` (the worker's `card_validity` sweeper) sends the reminders (ROAMCARD_VALIDITY_REMINDER_DAYS,
  once each per validity date: `cards.validity_reminded` and the SMS's unique key), moves lapsed cards to
  `expired` and, once the grace period (ROAMCARD_GRACE_DAYS) is over too, closes them (card/closure.py).

The sweeper's transitions are guarded by the validity date it read (`AND valid_until <= :now`), so a
recharge that commits first wins, and a recharge that comes after an expiry reactivates the card: a race
never loses a recharge.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from roamcard.card.states import CardStatus, card_machine
from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.kit.sql import Tx

_DAYS = "COALESCE((SELECT validity_days_per_recharge FROM products WHERE id = :product_id), :default_days)"
_EXTEND_PG = (  # composed of the constants above (no input in the text)
    "UPDATE cards SET validity_reminded = NULL, valid_until = GREATEST(COALESCE(valid_until, :now), :now) "  # noqa: S608
    f"+ make_interval(days => {_DAYS}) WHERE id = :card_id AND status <> 'expired'"
)
# SQLite stores `YYYY-MM-DD HH:MM:SS.ffffff` (kit/sql.py): date arithmetic on the first 19 characters, the
# fraction kept as it was.
_BASE = "(CASE WHEN valid_until IS NULL OR valid_until < :now THEN :now ELSE valid_until END)"
_EXTEND_SQLITE = (
    "UPDATE cards SET validity_reminded = NULL, "  # noqa: S608 (constants)
    f"valid_until = datetime({_BASE}, '+' || {_DAYS} || ' days') "
    f"|| substr({_BASE}, 20) WHERE id = :card_id AND status <> 'expired'"
)
_VALIDITY = f"SELECT valid_until, {_DAYS} FROM cards WHERE id = :card_id"  # noqa: S608 (constants)


def extended(valid_until: datetime | None, days: int, now: datetime) -> datetime:
    """The validity a recharge of `days` gives: from the later of now and the current date."""
    start = now if valid_until is None or valid_until < now else valid_until
    return start + timedelta(days=days)


def extend(tx: Tx, card_id: int, product_id: str) -> None:
    """A recharge of `product_id` was credited to the card: push its validity out (see the module)."""
    now = clock.now()
    params = {"card_id": card_id, "product_id": product_id, "now": now}
    params["default_days"] = get_settings().validity_days_per_recharge
    if tx.run(_EXTEND_SQLITE if tx.is_sqlite else _EXTEND_PG, **params) == 1:
        return
    # Expired (in its grace period): the recharge brings it back, with history.
    row = tx.one(_VALIDITY, **params)
    if row is None:
        return
    until = extended(tx.dt(row[0]), int(row[1]), now)
    card_machine.transition(
        tx,
        card_id,
        CardStatus.EXPIRED,
        CardStatus.ACTIVE,
        reason="recharged in grace period",
        valid_until=until,
        validity_reminded=None,
    )


# -- the sweeper ---------------------------------------------------------------------------------
_DUE_REMINDER = (
    "SELECT id, phone, language, valid_until FROM cards WHERE status = 'active' AND valid_until > :now "
    "AND valid_until <= :horizon AND (validity_reminded IS NULL OR validity_reminded > :days) "
    "ORDER BY valid_until LIMIT :limit"
)
_MARK_REMINDED = (
    "UPDATE cards SET validity_reminded = :days WHERE id = :id AND status = 'active' "
    "AND valid_until = :valid_until AND (validity_reminded IS NULL OR validity_reminded > :days)"
)
_LAPSED = (
    "SELECT id FROM cards WHERE status = :status AND valid_until <= :cutoff ORDER BY valid_until LIMIT :limit"
)
# A transition guarded by the validity date as well as the status: a recharge that extended it first wins.
_GUARDED = (
    "UPDATE cards SET status = :to_status WHERE id = :entity_key AND status = :from_status "
    "AND valid_until <= :cutoff"
)


def guarded_transition(
    tx: Tx, card_id: int, source: CardStatus, target: CardStatus, *, cutoff: datetime
) -> bool:
    """`source → target` only while the card's validity date is still at or before `cutoff`; history is
    written by the same rule as `card_machine.transition` (one statement on PostgreSQL)."""
    if not card_machine.allowed(source, target):
        raise ValueError(f"card: {source} -> {target}")
    params = {
        "entity_key": card_id,
        "entity_type": card_machine.entity_type,
        "entity_id": str(card_id),
        "from_status": str(source),
        "to_status": str(target),
        "reason": "validity lapsed" if target is CardStatus.EXPIRED else "grace period over",
        "at": clock.now(),
        "cutoff": cutoff,
    }
    history = card_machine.history
    if not tx.is_sqlite:
        sql = (
            f"WITH moved AS ({_GUARDED} RETURNING 1) {history.insert_into()}"  # noqa: S608 (constants)
            "SELECT :entity_type, :entity_id, :from_status, :to_status, :reason, :at FROM moved"
        )
        return tx.run(sql, **params) == 1
    if tx.run(_GUARDED, **params) != 1:
        return False
    del params["entity_key"], params["cutoff"]
    tx.run(history.insert_sql(), **params)
    return True


def due_reminders(tx: Tx, days: int, *, now: datetime, limit: int) -> list[tuple[int, str, str, datetime]]:
    rows = tx.all(_DUE_REMINDER, now=now, horizon=now + timedelta(days=days), days=days, limit=limit)
    return [(int(r[0]), r[1], r[2], tx.dt(r[3]) or now) for r in rows]


def mark_reminded(tx: Tx, card_id: int, days: int, valid_until: datetime) -> bool:
    """Claim the reminder: only while the validity date is the one read and no smaller one was sent."""
    return tx.run(_MARK_REMINDED, id=card_id, days=days, valid_until=valid_until) == 1


def lapsed(tx: Tx, status: CardStatus, *, cutoff: datetime, limit: int) -> list[int]:
    return [int(r[0]) for r in tx.all(_LAPSED, status=status.value, cutoff=cutoff, limit=limit)]
