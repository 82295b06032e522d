from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx
from roamcard.models import Dealer, DealerSale


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


# -- the POS sale's hot path (lean SQL through kit.sql.Tx) --------------------------------------------
@dataclass(frozen=True)
class PosDealer:
    """A dealer as the till's requests need it (one indexed read by its API key id)."""

    id: int
    public_id: str
    status: str
    currency: str
    commission_bps: int
    timezone: str
    float_account_id: int
    api_key_id: str
    api_secret_encrypted: str


@dataclass(frozen=True)
class SaleBatch:
    """What selling a recharge card needs of its batch, and what the sale's answer shows."""

    id: int
    dealer_id: int | None
    status: str
    face_value_amount: int
    face_value_currency: str
    product_id: str
    product_name_en: str
    product_name_zh: str
    expires_at: datetime


_DEALER_BY_KEY = (
    "SELECT id, public_id, status, currency, commission_bps, timezone, float_account_id, api_key_id, "
    "api_secret_encrypted FROM dealers WHERE api_key_id = :key_id"
)
_VOUCHER_FOR_SALE = (
    "SELECT v.status, b.id, b.dealer_id, b.status, b.face_value_amount, b.face_value_currency, b.product_id, "
    "b.product_name_en, b.product_name_zh, b.expires_at FROM vouchers v "
    "JOIN voucher_batches b ON b.id = v.batch_id WHERE v.id = :serial"
)
_VOUCHER_STATUS = "SELECT status FROM vouchers WHERE id = :serial"


def dealer_by_api_key_id(tx: Tx, key_id: str) -> PosDealer | None:
    row = tx.one(_DEALER_BY_KEY, key_id=key_id)
    return None if row is None else PosDealer(*row)


def voucher_for_sale(tx: Tx, serial: str) -> tuple[str, SaleBatch] | None:
    """The voucher's status and its batch, or None when there is no such serial."""
    row = tx.one(_VOUCHER_FOR_SALE, serial=serial)
    if row is None:
        return None
    expires_at = tx.dt(row[9])
    assert expires_at is not None
    status, batch_id, dealer_id, batch_status, amount, currency, product_id, name_en, name_zh = row[:9]
    batch = SaleBatch(
        batch_id, dealer_id, batch_status, amount, currency, product_id, name_en, name_zh, expires_at
    )
    return status, batch


def voucher_status(tx: Tx, serial: str) -> str | None:
    return tx.value(_VOUCHER_STATUS, serial=serial)


def list_all(session: Session) -> Sequence[Dealer]:
    return session.scalars(select(Dealer).order_by(Dealer.created_at.desc(), Dealer.id.desc())).all()
