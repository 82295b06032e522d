from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from roamcard.models import Allowance, LedgerAccount, LedgerReservation, LedgerTransfer


def get_account_by_code(session: Session, code: str) -> LedgerAccount | None:
    return session.scalars(select(LedgerAccount).where(LedgerAccount.code == code)).one_or_none()


def apply_guarded_delta(session: Session, account_id: int, delta: int) -> bool:
    """`balance += delta` unless that would take what is not held by reservations (balance - pending)
    across the account's lower bound."""
    result = session.execute(
        update(LedgerAccount)
        .where(
            LedgerAccount.id == account_id,
            (LedgerAccount.lower_bound.is_(None))
            | (LedgerAccount.balance - LedgerAccount.pending + delta >= LedgerAccount.lower_bound),
        )
        .values(balance=LedgerAccount.balance + delta)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def get_transfer_by_key(session: Session, key: str) -> LedgerTransfer | None:
    return session.scalars(select(LedgerTransfer).where(LedgerTransfer.key == key)).one_or_none()


def list_live_allowances(
    session: Session, card_id: int, now: datetime, asset: str | None = None
) -> Sequence[tuple[Allowance, int]]:
    """Unexpired allowances with what is left to use (balance less what reservations hold), earliest expiry
    first (the order they are consumed in)."""
    query = (
        select(Allowance, LedgerAccount.balance - LedgerAccount.pending)
        .join(LedgerAccount, LedgerAccount.id == Allowance.account_id)
        .where(Allowance.card_id == card_id, Allowance.expires_at > now, Allowance.expired_at.is_(None))
        .order_by(Allowance.expires_at, Allowance.id)
    )
    if asset is not None:
        query = query.where(Allowance.asset == asset)
    return [(row[0], row[1]) for row in session.execute(query).all()]


def list_lapsed_allowances(session: Session, now: datetime, limit: int) -> Sequence[Allowance]:
    return session.scalars(
        select(Allowance)
        .where(Allowance.expires_at <= now, Allowance.expired_at.is_(None))
        .order_by(Allowance.expires_at)
        .limit(limit)
    ).all()


def list_live_allowances_of_card(session: Session, card_id: int) -> Sequence[Allowance]:
    """Packs of the card not yet expired (whatever their date), earliest expiry first."""
    return session.scalars(
        select(Allowance)
        .where(Allowance.card_id == card_id, Allowance.expired_at.is_(None))
        .order_by(Allowance.expires_at, Allowance.id)
    ).all()


def mark_allowance_expired(session: Session, allowance_id: int, now: datetime) -> bool:
    result = session.execute(
        update(Allowance)
        .where(Allowance.id == allowance_id, Allowance.expired_at.is_(None))
        .values(expired_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def derived_balances(session: Session) -> dict[int, int]:
    """Every account's balance recomputed from transfers: credits minus debits."""
    credits = dict(
        session.execute(
            select(LedgerTransfer.credit_account_id, func.sum(LedgerTransfer.amount)).group_by(
                LedgerTransfer.credit_account_id
            )
        ).all()
    )
    debits = dict(
        session.execute(
            select(LedgerTransfer.debit_account_id, func.sum(LedgerTransfer.amount)).group_by(
                LedgerTransfer.debit_account_id
            )
        ).all()
    )
    ids = set(credits) | set(debits)
    return {i: int(credits.get(i, 0) or 0) - int(debits.get(i, 0) or 0) for i in ids}


def transfers_with_mismatched_assets(session: Session) -> int:
    debit = LedgerAccount.__table__.alias("debit")
    credit = LedgerAccount.__table__.alias("credit")
    return int(
        session.scalar(
            select(func.count())
            .select_from(LedgerTransfer)
            .join(debit, debit.c.id == LedgerTransfer.debit_account_id)
            .join(credit, credit.c.id == LedgerTransfer.credit_account_id)
            .where((debit.c.asset != LedgerTransfer.asset) | (credit.c.asset != LedgerTransfer.asset))
        )
        or 0
    )


def all_accounts(session: Session) -> Sequence[LedgerAccount]:
    return session.scalars(select(LedgerAccount).order_by(LedgerAccount.id)).all()


def pending_holds(session: Session) -> dict[int, int]:
    """What pending reservations hold, per account."""
    rows = session.execute(
        select(LedgerReservation.account_id, func.sum(LedgerReservation.amount))
        .where(LedgerReservation.status == "pending")
        .group_by(LedgerReservation.account_id)
    ).all()
    return {int(account_id): int(amount or 0) for account_id, amount in rows}


def posted_reservations_without_transfer(session: Session) -> list[str]:
    """Posted reservations whose `{key}:post` transfer is missing or moved another amount."""
    posting = LedgerTransfer.__table__.alias("posting")
    rows = session.execute(
        select(LedgerReservation.key)
        .outerjoin(posting, posting.c.key == LedgerReservation.key + ":post")
        .where(
            LedgerReservation.status == "posted",
            (posting.c.id.is_(None))
            | (posting.c.amount != LedgerReservation.posted_amount)
            | (posting.c.debit_account_id != LedgerReservation.account_id),
        )
    ).all()
    return [str(row[0]) for row in rows]
