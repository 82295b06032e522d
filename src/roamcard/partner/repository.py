from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx
from roamcard.models import (
    Partner,
    PartnerCall,
    PartnerCallback,
    PartnerCallbackAttempt,
    PartnerKey,
    PartnerTopup,
    TopupOrder,
)


def get_by_public_id(session: Session, public_id: str) -> Partner | None:
    return session.scalars(select(Partner).where(Partner.public_id == public_id)).one_or_none()


def get_by_name(session: Session, name: str) -> Partner | None:
    return session.scalars(select(Partner).where(Partner.name == name).order_by(Partner.id).limit(1)).first()


def list_partners(session: Session) -> Sequence[Partner]:
    return session.scalars(select(Partner).order_by(Partner.created_at.desc(), Partner.id.desc())).all()


def keys_of(session: Session, partner_id: int) -> Sequence[PartnerKey]:
    return session.scalars(
        select(PartnerKey).where(PartnerKey.partner_id == partner_id).order_by(PartnerKey.id)
    ).all()


def topups_between(
    session: Session, partner_id: int, start: datetime, end: datetime
) -> Sequence[tuple[PartnerTopup, TopupOrder]]:
    rows = session.execute(
        select(PartnerTopup, TopupOrder)
        .join(TopupOrder, TopupOrder.id == PartnerTopup.order_id)
        .where(
            PartnerTopup.partner_id == partner_id,
            PartnerTopup.created_at >= start,
            PartnerTopup.created_at < end,
        )
        .order_by(PartnerTopup.created_at, PartnerTopup.id)
    ).all()
    return [(row[0], row[1]) for row in rows]


def purge_calls_before(session: Session, instant: datetime, limit: int) -> int:
    oldest = (
        select(PartnerCall.id)
        .where(PartnerCall.called_at < instant)
        .order_by(PartnerCall.id)
        .limit(limit)
        .scalar_subquery()
    )
    result = session.execute(
        delete(PartnerCall).where(PartnerCall.id.in_(oldest)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def recent_calls(session: Session, partner_id: int, limit: int = 50) -> Sequence[PartnerCall]:
    return session.scalars(
        select(PartnerCall)
        .where(PartnerCall.partner_id == partner_id)
        .order_by(PartnerCall.called_at.desc(), PartnerCall.id.desc())
        .limit(limit)
    ).all()


def recent_callbacks(
    session: Session, partner_id: int, limit: int = 50
) -> Sequence[tuple[PartnerCallback, PartnerTopup]]:
    rows = session.execute(
        select(PartnerCallback, PartnerTopup)
        .join(PartnerTopup, PartnerTopup.id == PartnerCallback.topup_id)
        .where(PartnerCallback.partner_id == partner_id)
        .order_by(PartnerCallback.created_at.desc(), PartnerCallback.id.desc())
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in rows]


def attempts_of(session: Session, callback_id: int) -> Sequence[PartnerCallbackAttempt]:
    return session.scalars(
        select(PartnerCallbackAttempt)
        .where(PartnerCallbackAttempt.callback_id == callback_id)
        .order_by(PartnerCallbackAttempt.id)
    ).all()


def get_callback(session: Session, public_id: str) -> PartnerCallback | None:
    return session.scalars(
        select(PartnerCallback).where(PartnerCallback.public_id == public_id)
    ).one_or_none()


# -- the partner API's hot path (lean SQL through kit.sql.Tx) -----------------------------------------
@dataclass(frozen=True)
class ApiPartner:
    """A partner as its requests need it, with the key the request was signed with (one indexed read)."""

    id: int
    public_id: str
    status: str
    mode: str
    currency: str
    commission_bps: int
    timezone: str
    float_account_id: int
    allowed_cidrs: list[str]
    product_ids: list[str] | None
    callback_url: str
    credit_limit: int
    api_key_id: str
    api_secret_encrypted: str
    key_expires_at: datetime | None


_PARTNER_BY_KEY = (
    "SELECT p.id, p.public_id, p.status, p.mode, p.currency, p.commission_bps, p.timezone, "
    "p.float_account_id, p.allowed_cidrs, p.product_ids, p.callback_url, p.credit_limit_amount, "
    "k.api_key_id, k.api_secret_encrypted, k.expires_at "
    "FROM partner_keys k JOIN partners p ON p.id = k.partner_id "
    "WHERE k.api_key_id = :key_id"
)


def partner_by_api_key_id(tx: Tx, key_id: str) -> ApiPartner | None:
    row = tx.one(_PARTNER_BY_KEY, key_id=key_id)
    if row is None:
        return None
    cidrs, products = tx.loads(row[8]), tx.loads(row[9]) if row[9] is not None else None
    return ApiPartner(
        int(row[0]),
        row[1],
        row[2],
        row[3],
        row[4],
        int(row[5]),
        row[6],
        int(row[7]),
        cidrs or [],
        products,
        row[10],
        int(row[11]),
        row[12],
        row[13],
        tx.dt(row[14]),
    )


@dataclass(frozen=True)
class TopupView:
    """A partner top-up with its order's status: what the API answers and a callback carries."""

    public_order_id: str
    external_id: str
    order_status: str
    card_number: str
    product_id: str
    price_amount: int
    partner_cost_amount: int
    commission_amount: int
    currency: str
    created_at: datetime
    fulfilled_at: datetime | None


_TOPUP_VIEW = (
    "SELECT t.order_id, t.external_id, o.status, c.card_number, t.product_id, t.price_amount, "
    "t.partner_cost_amount, t.commission_amount, t.currency, t.created_at, o.fulfilled_at "
    "FROM partner_topups t JOIN topup_orders o ON o.id = t.order_id JOIN cards c ON c.id = t.card_id "
)
_TOPUP_BY_EXTERNAL_ID = _TOPUP_VIEW + "WHERE t.partner_id = :partner_id AND t.external_id = :external_id"
_TOPUP_BY_ID = _TOPUP_VIEW + "WHERE t.id = :id"


def _view(tx: Tx, row: Any) -> TopupView:
    created_at = tx.dt(row[9])
    assert created_at is not None
    order_id, external_id, status, card_number, product_id, price, cost, commission, currency = row[:9]
    return TopupView(
        order_id,
        external_id,
        status,
        card_number,
        product_id,
        int(price),
        int(cost),
        int(commission),
        currency,
        created_at,
        tx.dt(row[10]),
    )


def topup_by_external_id(tx: Tx, partner_id: int, external_id: str) -> TopupView | None:
    row = tx.one(_TOPUP_BY_EXTERNAL_ID, partner_id=partner_id, external_id=external_id)
    return None if row is None else _view(tx, row)


def topup_by_id(tx: Tx, topup_id: int) -> TopupView | None:
    row = tx.one(_TOPUP_BY_ID, id=topup_id)
    return None if row is None else _view(tx, row)


_IS_SANDBOX_CARD = "SELECT 1 FROM sandbox_cards WHERE card_id = :card_id"


def is_sandbox_card(tx: Tx, card_id: int) -> bool:
    return tx.one(_IS_SANDBOX_CARD, card_id=card_id) is not None
