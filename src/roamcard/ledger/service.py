"""Double-entry ledger (docs/architecture.md).

A transfer moves a positive amount of one asset from a debit account to a credit account. It is
append-only and keyed by a business key, so applying it twice is a no-op. Card-side accounts cache their
balance, updated in the same transaction by a guarded UPDATE; operator-side accounts do not, so that no
hot row serialises every top-up.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from roamcard.errors import AppError
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger import repository
from roamcard.ledger.assets import AccountKind, Asset, operator_code
from roamcard.ledger.states import ReservationStatus, reservation_machine
from roamcard.lifecycle import as_tx
from roamcard.models import Allowance, LedgerAccount


class InsufficientBalance(AppError):
    status_code = 409
    code = "insufficient_balance"
    message = "The balance is not enough."


class TransferKeyReused(Exception):
    """A transfer key that was already applied with other accounts, asset, amount or reason (TigerBeetle's
    "exists with different fields"). The business key names one movement of value; a second movement under
    the same key is a bug or an operator's mistake, never a no-op."""

    def __init__(self, key: str, field: str, existing: object, asked: object) -> None:
        super().__init__(
            f"ledger transfer {key!r} already exists with a different {field}: {existing} (asked: {asked})"
        )
        self.key = key
        self.field = field
        self.existing = existing
        self.asked = asked


class BalanceGuardFailed(RuntimeError):
    """The guarded balance UPDATE of an account changed no row: the account is gone, or its cached balance
    is already past its lower bound. The transfer is refused (the transaction must roll back)."""

    def __init__(self, account: AccountRef, delta: int) -> None:
        super().__init__(f"ledger account {account.code!r}: the guarded update of {delta:+d} changed nothing")
        self.account_code = account.code


class AccountRef(Protocol):
    """What a transfer needs of an account: an ORM `LedgerAccount` or a lean `Account`."""

    @property
    def id(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def asset(self) -> str: ...
    @property
    def tracks_balance(self) -> bool: ...


@dataclass(frozen=True)
class Account:
    """An account as the lean path knows it (its cached balance is read when needed, never kept)."""

    id: int
    code: str
    asset: str
    tracks_balance: bool


_SELECT_ACCOUNT = "SELECT id, code, asset, tracks_balance FROM ledger_accounts WHERE code = :code"
_INSERT_ACCOUNT = (
    "INSERT INTO ledger_accounts (code, asset, kind, card_id, tracks_balance, balance, lower_bound, "
    "created_at) VALUES (:code, :asset, :kind, :card_id, :tracks_balance, 0, :lower_bound, :now) "
    "ON CONFLICT DO NOTHING"
)


def account(
    tx: Tx,
    code: str,
    asset: str,
    kind: AccountKind,
    *,
    card_id: int | None = None,
    lower_bound: int | None = None,
) -> Account:
    """Get or create an account by its code on the lean path; safe when two transactions race to create
    it (the loser's INSERT does nothing and it reads the winner's row)."""
    row = tx.one(_SELECT_ACCOUNT, code=code)
    if row is None:
        tx.run(
            _INSERT_ACCOUNT,
            code=code,
            asset=asset,
            kind=kind.value,
            card_id=card_id,
            tracks_balance=kind is not AccountKind.OPERATOR,
            lower_bound=lower_bound,
            now=clock.now(),
        )
        row = tx.one(_SELECT_ACCOUNT, code=code)
        assert row is not None
    return Account(id=int(row[0]), code=row[1], asset=row[2], tracks_balance=bool(row[3]))


def operator(tx: Tx, purpose: str, asset: str) -> Account:
    """An operator account. They never change once made, so each process remembers one (per database)
    once the transaction that found or made it has committed."""
    code = operator_code(purpose, asset)
    cache_key = ("ledger.operator", code)
    known: Account | None = tx.cache.get(cache_key)
    if known is not None:
        return known
    found = account(tx, code, asset, AccountKind.OPERATOR)
    tx.after_commit(lambda: tx.cache.__setitem__(cache_key, found))
    return found


def wallet(tx: Tx, card_id: int, currency: str) -> Account:
    return account(
        tx, wallet_code(card_id, currency), currency, AccountKind.WALLET, card_id=card_id, lower_bound=0
    )


def ensure_account(
    session: Session,
    code: str,
    asset: str,
    kind: AccountKind,
    *,
    card_id: int | None = None,
    lower_bound: int | None = None,
) -> LedgerAccount:
    """`account` for ORM callers: the same get-or-create, handing back the loaded `LedgerAccount`."""
    found = account(as_tx(session), code, asset, kind, card_id=card_id, lower_bound=lower_bound)
    loaded = repository.get_account_by_code(session, found.code)
    assert loaded is not None
    return loaded


def operator_account(session: Session, purpose: str, asset: str) -> LedgerAccount:
    return ensure_account(session, operator_code(purpose, asset), asset, AccountKind.OPERATOR)


def wallet_code(card_id: int, currency: str) -> str:
    return f"card:{card_id}:wallet:{currency}"


def wallet_account(session: Session, card_id: int, currency: str) -> LedgerAccount:
    """Get or create: only for writers (issuing, fulfilment). Readers use `find_wallet_account`."""
    return ensure_account(
        session,
        wallet_code(card_id, currency),
        currency,
        AccountKind.WALLET,
        card_id=card_id,
        lower_bound=0,
    )


def find_wallet_account(session: Session, card_id: int, currency: str) -> LedgerAccount | None:
    """The wallet if it exists; never writes, so it is safe in read-only transactions."""
    return repository.get_account_by_code(session, wallet_code(card_id, currency))


_INSERT_TRANSFER = (
    'INSERT INTO ledger_transfers ("key", debit_account_id, credit_account_id, asset, amount, reason, '
    "reference, created_at) VALUES (:key, :debit, :credit, :asset, :amount, :reason, :reference, :now) "
    "ON CONFLICT DO NOTHING RETURNING id"
)
_SELECT_TRANSFER = (
    "SELECT debit_account_id, credit_account_id, asset, amount, reason FROM ledger_transfers "
    'WHERE "key" = :key'
)
# What pending reservations hold is not spendable: the guard is on balance - pending (ledger/reservations.py).
_GUARDED_DELTA = (
    "UPDATE ledger_accounts SET balance = balance + :delta "
    "WHERE id = :id AND (lower_bound IS NULL OR balance - pending + :delta >= lower_bound)"
)


def transfer(
    db: Session | Tx,
    *,
    key: str,
    debit: AccountRef,
    credit: AccountRef,
    amount: int,
    reason: str,
    reference: str | None = None,
) -> bool:
    """Apply one transfer exactly once. Returns False when `key` was already applied with the same accounts,
    asset, amount and reason; raises TransferKeyReused when it was applied with different ones."""
    if amount <= 0:
        raise ValueError("transfer amount must be positive")
    if debit.asset != credit.asset:
        raise ValueError(f"asset mismatch: {debit.asset} -> {credit.asset}")
    if debit.id == credit.id:
        raise ValueError("debit and credit are the same account")
    tx = as_tx(db)
    inserted = tx.one(
        _INSERT_TRANSFER,
        key=key,
        debit=debit.id,
        credit=credit.id,
        asset=debit.asset,
        amount=amount,
        reason=reason,
        reference=reference,
        now=clock.now(),
    )
    if inserted is None:
        _check_same_transfer(tx, key, debit=debit, credit=credit, amount=amount, reason=reason)
        return False
    if debit.tracks_balance and tx.run(_GUARDED_DELTA, id=debit.id, delta=-amount) != 1:
        raise InsufficientBalance()
    if credit.tracks_balance and tx.run(_GUARDED_DELTA, id=credit.id, delta=amount) != 1:
        raise BalanceGuardFailed(credit, amount)
    return True


def _check_same_transfer(
    tx: Tx, key: str, *, debit: AccountRef, credit: AccountRef, amount: int, reason: str
) -> None:
    existing = tx.one(_SELECT_TRANSFER, key=key)
    if existing is None:  # cannot happen: the insert conflicted on this key
        raise TransferKeyReused(key, "key", "missing", key)
    asked = {
        "debit account": (existing[0], debit.id),
        "credit account": (existing[1], credit.id),
        "asset": (existing[2], debit.asset),
        "amount": (existing[3], amount),
        "reason": (existing[4], reason),
    }
    for field, (was, now) in asked.items():
        if was != now:
            raise TransferKeyReused(key, field, was, now)


_NEW_PACK_ACCOUNT = _INSERT_ACCOUNT + " RETURNING id"
_SELECT_ACCOUNT_ID = "SELECT id FROM ledger_accounts WHERE code = :code"
_SELECT_PACK = "SELECT id FROM allowances WHERE account_id = :account_id"
_INSERT_PACK = (
    "INSERT INTO allowances (card_id, account_id, asset, total, order_id, product_id, created_at, "
    "expires_at) VALUES (:card_id, :account_id, :asset, :total, :order_id, :product_id, :now, :expires_at) "
    "RETURNING id"
)
# PostgreSQL: the new account and its allowance in one statement (nothing when the account exists).
_NEW_PACK_WITH_ACCOUNT = (
    "WITH account AS (" + _NEW_PACK_ACCOUNT + ") "
    "INSERT INTO allowances (card_id, account_id, asset, total, order_id, product_id, created_at, "
    "expires_at) SELECT :card_id, id, :asset, :total, :order_id, :product_id, :now, :expires_at "
    "FROM account RETURNING account_id, id"
)
_SELECT_BALANCE = "SELECT balance FROM ledger_accounts WHERE id = :id"


def grant_pack(
    db: Session | Tx,
    *,
    key: str,
    card_id: int,
    asset: Asset,
    amount: int,
    validity_days: int,
    order_id: str | None,
    product_id: str | None,
    source: str = "issued",
) -> int:
    """A pack: its own account (so packs with different expiries never mix), credited from the operator
    account `source` (`issued`; `promotion` for a bonus pack). Granting the same `key` again returns the
    first grant. Returns the allowance's id."""
    tx = as_tx(db)
    now = clock.now()
    code = f"card:{card_id}:allowance:{key}"
    params: dict[str, Any] = {
        "code": code,
        "asset": asset.value,
        "kind": AccountKind.ALLOWANCE.value,
        "card_id": card_id,
        "tracks_balance": True,
        "lower_bound": 0,
        "now": now,
        "total": amount,
        "order_id": order_id,
        "product_id": product_id,
        "expires_at": now + timedelta(days=validity_days),
    }
    new = _new_pack(tx, params)
    if new is not None:
        account_id, allowance_id = new
    else:  # the account was there: an earlier grant of this key (a racing one waited, then did nothing)
        account_id = int(tx.value(_SELECT_ACCOUNT_ID, code=code))
        granted = tx.value(_SELECT_PACK, account_id=account_id)
        if granted is not None:
            return int(granted)
        allowance_id = int(tx.value(_INSERT_PACK, account_id=account_id, **params))
    transfer(
        tx,
        key=key,
        debit=operator(tx, source, asset.value),
        credit=Account(id=account_id, code=code, asset=asset.value, tracks_balance=True),
        amount=amount,
        reason="grant",
        reference=order_id,
    )
    return allowance_id


def _new_pack(tx: Tx, params: dict[str, Any]) -> tuple[int, int] | None:
    """A new pack's (account id, allowance id), or None when its account exists already. A new pack is
    the usual case, so its account is inserted first rather than looked for."""
    if not tx.is_sqlite:
        row = tx.one(_NEW_PACK_WITH_ACCOUNT, **params)
        return None if row is None else (int(row[0]), int(row[1]))
    created = tx.one(_NEW_PACK_ACCOUNT, **params)
    if created is None:
        return None
    account_id = int(created[0])
    return account_id, int(tx.value(_INSERT_PACK, account_id=account_id, **params))


def grant_allowance(
    session: Session,
    *,
    key: str,
    card_id: int,
    asset: Asset,
    amount: int,
    validity_days: int,
    order_id: str | None,
    product_id: str | None,
) -> Allowance:
    """`grant_pack` for ORM callers: the granted pack, loaded."""
    allowance_id = grant_pack(
        session,
        key=key,
        card_id=card_id,
        asset=asset,
        amount=amount,
        validity_days=validity_days,
        order_id=order_id,
        product_id=product_id,
    )
    allowance = session.get(Allowance, allowance_id)
    assert allowance is not None
    return allowance


def balance(tx: Tx, account: AccountRef) -> int:
    """An account's cached balance as it stands in this transaction (after its guarded updates)."""
    return int(tx.value(_SELECT_BALANCE, id=account.id))


@dataclass(frozen=True)
class Consumption:
    requested: int
    consumed: int

    @property
    def shortfall(self) -> int:
        return self.requested - self.consumed


def consume_allowances(
    session: Session, *, key: str, card_id: int, asset: Asset, quantity: int
) -> Consumption:
    """Draw `quantity` units from live packs, earliest expiry first. What packs cannot cover is returned
    as a shortfall for the caller (charging) to take from the balance or refuse."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    remaining = quantity
    usage = operator_account(session, "usage", asset.value)
    for allowance, balance in repository.list_live_allowances(session, card_id, clock.now(), asset.value):
        if remaining == 0:
            break
        # A repeat of the same usage record: what this key already took from the pack counts, so the pack's
        # lower balance now does not make a second, different transfer under the same key.
        done = repository.get_transfer_by_key(session, f"{key}:{allowance.id}")
        if done is not None:
            remaining -= min(done.amount, remaining)
            continue
        take = min(balance, remaining)
        if take <= 0:
            continue
        account = session.get(LedgerAccount, allowance.account_id)
        assert account is not None
        if transfer(
            session, key=f"{key}:{allowance.id}", debit=account, credit=usage, amount=take, reason="usage"
        ):
            remaining -= take
    return Consumption(requested=quantity, consumed=quantity - remaining)


def expire_lapsed_allowances(session: Session, *, now: datetime | None = None, limit: int = 500) -> int:
    """Move what is left of each lapsed pack to breakage, once."""
    now = now or clock.now()
    expired = 0
    for allowance in repository.list_lapsed_allowances(session, now, limit):
        if _expire_allowance(session, allowance, now):
            expired += 1
    return expired


def expire_card_allowances(session: Session, card_id: int, *, reason: str = "card_closed") -> int:
    """Every live pack of a card that is closing: what is left goes to breakage, as at a pack's expiry."""
    now = clock.now()
    return sum(
        1
        for allowance in repository.list_live_allowances_of_card(session, card_id)
        if _expire_allowance(session, allowance, now, reason=reason)
    )


def _expire_allowance(
    session: Session, allowance: Allowance, now: datetime, *, reason: str = "pack_expired"
) -> bool:
    if not repository.mark_allowance_expired(session, allowance.id, now):
        return False
    _void_holds(as_tx(session), allowance.account_id, reason=reason)
    account = session.get(LedgerAccount, allowance.account_id, populate_existing=True)
    assert account is not None
    if account.balance > 0:
        transfer(
            session,
            key=f"allowance:{allowance.id}:expire",
            debit=account,
            credit=operator_account(session, "expired", allowance.asset),
            amount=account.balance,
            reason="expiry",
        )
    return True


def void_holds(tx: Tx, account_id: int, *, reason: str) -> None:
    """Void every pending reservation on the account (its whole balance is about to move)."""
    _void_holds(tx, account_id, reason=reason)


_PENDING_HOLDS = (
    "SELECT id, amount FROM ledger_reservations WHERE status = 'pending' AND account_id = :account_id"
)
_RELEASE_HOLD = "UPDATE ledger_accounts SET pending = pending - :amount WHERE id = :id AND pending >= :amount"


def _void_holds(tx: Tx, account_id: int, *, reason: str) -> None:
    """Void the pending reservations on an account whose whole balance is about to move (a pack's expiry):
    what a session had not reported by then is not charged to the pack."""
    for reservation_id, amount in tx.all(_PENDING_HOLDS, account_id=account_id):
        if (
            reservation_machine.transition(
                tx,
                int(reservation_id),
                ReservationStatus.PENDING,
                ReservationStatus.VOIDED,
                reason=reason,
                posted_amount=0,
                settled_at=clock.now(),
            )
            and tx.run(_RELEASE_HOLD, id=account_id, amount=int(amount)) != 1
        ):
            raise BalanceGuardFailed(Account(account_id, str(account_id), "", True), -int(amount))


@dataclass
class VerifyReport:
    accounts: int
    transfers_checked: bool
    mismatched_balances: list[tuple[str, int, int]]
    asset_totals: dict[str, int]
    below_lower_bound: list[str]
    asset_mismatches: int
    # Reservations (ledger/reservations.py): accounts whose `pending` differs from their pending holds
    # (code, cached, recomputed), and posted reservations without their posting transfer (keys).
    mismatched_pending: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)
    unposted_reservations: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not self.mismatched_balances
            and not self.mismatched_pending
            and not self.unposted_reservations
            and not self.below_lower_bound
            and self.asset_mismatches == 0
            and all(total == 0 for total in self.asset_totals.values())
        )


def verify(session: Session) -> VerifyReport:
    """Recompute every balance from transfers; the books must sum to zero per asset; each account's
    `pending` equals its pending reservations, and what a posted reservation moved is a transfer."""
    derived = repository.derived_balances(session)
    holds = repository.pending_holds(session)
    mismatched_pending: list[tuple[str, int, int]] = []
    mismatched: list[tuple[str, int, int]] = []
    below: list[str] = []
    totals: dict[str, int] = {}
    accounts = repository.all_accounts(session)
    for account in accounts:
        recomputed = derived.get(account.id, 0)
        effective = account.balance if account.tracks_balance else recomputed
        if account.tracks_balance and account.balance != recomputed:
            mismatched.append((account.code, account.balance, recomputed))
        held = holds.get(account.id, 0)
        if account.pending != held or (account.pending and not account.tracks_balance):
            mismatched_pending.append((account.code, account.pending, held))
        if account.lower_bound is not None and effective - account.pending < account.lower_bound:
            below.append(account.code)
        totals[account.asset] = totals.get(account.asset, 0) + effective
    return VerifyReport(
        accounts=len(accounts),
        transfers_checked=True,
        mismatched_balances=mismatched,
        asset_totals=totals,
        below_lower_bound=below,
        asset_mismatches=repository.transfers_with_mismatched_assets(session),
        mismatched_pending=mismatched_pending,
        unposted_reservations=repository.posted_reservations_without_transfer(session),
    )
