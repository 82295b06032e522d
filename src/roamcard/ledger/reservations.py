"""Two-phase transfers (reservations): hold an amount on a balance-tracking account now, move what was
really used later.

`reserve` writes a `ledger_reservations` row (unique business key) and raises the account's `pending` by a
guarded UPDATE (`balance - pending - amount >= lower_bound`), so parallel holds never promise more than the
account has; every ordinary debit is guarded on `balance - pending` too (service._GUARDED_DELTA). `settle`
moves the reservation `pending → posted` (a transfer of what was used, keyed `{key}:post`, to its counter
account; the rest is released) or `pending → voided` (nothing used), each a conditional transition with
history; the hold is released in the same transaction. A hold lapses at `expires_at`: the sweeper voids it.
`verify` checks each account's `pending` against its pending reservations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger.service import Account, InsufficientBalance, transfer
from roamcard.ledger.states import ReservationStatus, reservation_machine

_INSERT = (
    'INSERT INTO ledger_reservations ("key", account_id, counter_account_id, asset, amount, status, '
    "reference, created_at, expires_at) VALUES (:key, :account_id, :counter_id, :asset, :amount, 'pending', "
    ":reference, :now, :expires_at) ON CONFLICT DO NOTHING RETURNING id"
)
_BY_KEY = 'SELECT id FROM ledger_reservations WHERE "key" = :key'
_HOLD = (
    "UPDATE ledger_accounts SET pending = pending + :amount WHERE id = :id AND tracks_balance "
    "AND (lower_bound IS NULL OR balance - pending - :amount >= lower_bound)"
)
_RELEASE = "UPDATE ledger_accounts SET pending = pending - :amount WHERE id = :id AND pending >= :amount"
_READ = (
    'SELECT r."key", r.account_id, r.counter_account_id, r.asset, r.amount, r.status, a.code, c.code, '
    "c.tracks_balance FROM ledger_reservations r JOIN ledger_accounts a ON a.id = r.account_id "
    "JOIN ledger_accounts c ON c.id = r.counter_account_id WHERE r.id = :id"
)
_LAPSED = (
    "SELECT id FROM ledger_reservations WHERE status = 'pending' AND expires_at <= :now "
    "ORDER BY expires_at, id LIMIT :limit"
)
_AVAILABLE = "SELECT balance - pending - COALESCE(lower_bound, 0) FROM ledger_accounts WHERE id = :id"


class ReservationGuardFailed(RuntimeError):
    """Releasing a hold changed no row: the account's `pending` is below the reservation (a bug)."""


@dataclass(frozen=True)
class Reservation:
    id: int
    created: bool


def available(tx: Tx, account_id: int) -> int:
    """What the account may still spend or reserve: balance - pending - lower bound."""
    return int(tx.value(_AVAILABLE, id=account_id) or 0)


def reserve(
    tx: Tx,
    *,
    key: str,
    account: Account,
    counter: Account,
    amount: int,
    expires_at: datetime,
    reference: str | None = None,
) -> Reservation:
    """Hold `amount` on `account` until `expires_at`. The same `key` again returns the first reservation and
    holds nothing more. Raises InsufficientBalance when the account cannot hold it (nothing is written)."""
    if amount <= 0:
        raise ValueError("reservation amount must be positive")
    if account.asset != counter.asset:
        raise ValueError(f"asset mismatch: {account.asset} -> {counter.asset}")
    if not account.tracks_balance:
        raise ValueError("only balance-tracking accounts take reservations")
    now = clock.now()
    row = tx.one(
        _INSERT,
        key=key,
        account_id=account.id,
        counter_id=counter.id,
        asset=account.asset,
        amount=amount,
        reference=reference,
        now=now,
        expires_at=expires_at,
    )
    if row is None:
        return Reservation(id=int(tx.value(_BY_KEY, key=key)), created=False)
    if tx.run(_HOLD, id=account.id, amount=amount) != 1:
        raise InsufficientBalance()
    reservation_id = int(row[0])
    reservation_machine.record_creation(tx, reservation_id, ReservationStatus.PENDING, at=now)
    return Reservation(id=reservation_id, created=True)


def settle(tx: Tx, reservation_id: int, used: int, *, reason: str = "used") -> int:
    """Post `used` (at most the held amount) and release the rest; `used` 0 voids it. Returns what was
    posted; 0 when the reservation was already settled or voided (a repeat changes nothing)."""
    row = tx.one(_READ, id=reservation_id)
    if row is None:
        raise LookupError(f"no reservation {reservation_id}")
    key, account_id, counter_id, asset, amount, status, code, counter_code, counter_tracks = row
    if status != ReservationStatus.PENDING:
        return 0
    posted = max(0, min(int(used), int(amount)))
    now = clock.now()
    target = ReservationStatus.POSTED if posted > 0 else ReservationStatus.VOIDED
    if not reservation_machine.transition(
        tx,
        reservation_id,
        ReservationStatus.PENDING,
        target,
        reason=reason,
        posted_amount=posted,
        settled_at=now,
    ):
        return 0  # settled by a racing caller
    if tx.run(_RELEASE, id=account_id, amount=int(amount)) != 1:
        raise ReservationGuardFailed(f"reservation {key!r}: releasing {amount} changed nothing")
    if posted > 0:
        transfer(
            tx,
            key=f"{key}:post",
            debit=Account(id=int(account_id), code=code, asset=asset, tracks_balance=True),
            credit=Account(
                id=int(counter_id), code=counter_code, asset=asset, tracks_balance=bool(counter_tracks)
            ),
            amount=posted,
            reason="usage",
            reference=str(reservation_id),
        )
    return posted


def void_lapsed(tx: Tx, *, now: datetime | None = None, limit: int = 500) -> int:
    """Void every pending reservation whose validity has passed (its session never reported back)."""
    voided = 0
    for (reservation_id,) in tx.all(_LAPSED, now=now or clock.now(), limit=limit):
        row = tx.one(_READ, id=reservation_id)
        if row is not None and row[5] == ReservationStatus.PENDING:
            settle(tx, int(reservation_id), 0, reason="lapsed")
            voided += 1
    return voided
