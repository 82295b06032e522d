from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from roamcard.models import Dealer, DealerSale, LedgerTransfer, PosNonce


def get_by_public_id(session: Session, public_id: str) -> Dealer | None:
    return session.scalars(select(Dealer).where(Dealer.public_id == public_id)).one_or_none()


def get_by_api_key_id(session: Session, api_key_id: str) -> Dealer | None:
    return session.scalars(select(Dealer).where(Dealer.api_key_id == api_key_id)).one_or_none()


def get_sale(session: Session, dealer_id: int, external_id: str) -> DealerSale | None:
    return session.scalars(
        select(DealerSale).where(DealerSale.dealer_id == dealer_id, DealerSale.external_id == external_id)
    ).one_or_none()


def sales_between(session: Session, dealer_id: int, start: datetime, end: datetime) -> Sequence[DealerSale]:
    return session.scalars(
        select(DealerSale)
        .where(DealerSale.dealer_id == dealer_id, DealerSale.created_at >= start, DealerSale.created_at < end)
        .order_by(DealerSale.created_at, DealerSale.id)
    ).all()


def float_movements(
    session: Session, account_id: int, start: datetime | None, end: datetime
) -> tuple[int, int]:
    """(credited, debited) on a float account by the transfers made in [start, end) (from the first
    transfer when `start` is None)."""
    window = [LedgerTransfer.created_at < end]
    if start is not None:
        window.append(LedgerTransfer.created_at >= start)
    credited = session.scalar(
        select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
            LedgerTransfer.credit_account_id == account_id, *window
        )
    )
    debited = session.scalar(
        select(func.coalesce(func.sum(LedgerTransfer.amount), 0)).where(
            LedgerTransfer.debit_account_id == account_id, *window
        )
    )
    return int(credited or 0), int(debited or 0)


def purge_nonces_before(session: Session, instant: datetime) -> int:
    result = session.execute(
        delete(PosNonce).where(PosNonce.seen_at < instant).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
