from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.orm import Session, aliased

from roamcard.jobs import outbox
from roamcard.models import Allowance, Job, Payment, Refund, TopupOrder
from roamcard.payment.states import PaymentStatus
from roamcard.refund.states import RefundKind, RefundStatus

REFUND_JOBS = ("submit", "settle")  # dedupe keys `<refund id>:submit`, `<refund id>:settle`


def get(session: Session, refund_id: str) -> Refund | None:
    return session.get(Refund, refund_id, populate_existing=True)


def lock_order(session: Session, order_id: str) -> TopupOrder | None:
    """The order, re-read under a row lock held until the transaction ends (SELECT … FOR UPDATE on
    PostgreSQL; SQLite's write transaction already excludes every other writer). Every refund decision
    about one order takes it first, so two of them never both see the same refundable value."""
    return session.scalars(
        select(TopupOrder)
        .where(TopupOrder.id == order_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()


def list_for_order(session: Session, order_id: str) -> Sequence[Refund]:
    return session.scalars(
        select(Refund).where(Refund.order_id == order_id).order_by(Refund.created_at, Refund.id)
    ).all()


def list_by_status(session: Session, statuses: Iterable[str], limit: int) -> Sequence[Refund]:
    return session.scalars(
        select(Refund)
        .where(Refund.status.in_(list(statuses)))
        .order_by(Refund.created_at, Refund.id)
        .limit(limit)
    ).all()


def succeeded_payment_for_order(session: Session, order_id: str) -> Payment | None:
    return session.scalars(
        select(Payment)
        .where(Payment.order_id == order_id, Payment.status == PaymentStatus.SUCCEEDED.value)
        .order_by(Payment.created_at.desc())
        .limit(1)
    ).first()


def allowances_of_order(session: Session, order_id: str) -> Sequence[Allowance]:
    return session.scalars(select(Allowance).where(Allowance.order_id == order_id)).all()


def get_retry_of(session: Session, refund_id: str) -> Refund | None:
    return session.scalars(select(Refund).where(Refund.retry_of == refund_id)).one_or_none()


def _job_of(refund: type[Refund] | Any, suffix: str) -> Any:
    return Job.dedupe_key == refund.id + f":{suffix}"


def _stuck() -> Select[Refund, Job]:
    """Refunds still waiting on the gateway whose job died, and no job of theirs is still alive."""
    live = aliased(Job)
    return (
        select(Refund, Job)
        .join(Job, _job_of(Refund, REFUND_JOBS[0]) | _job_of(Refund, REFUND_JOBS[1]))
        .where(
            Refund.status.in_([RefundStatus.APPROVED.value, RefundStatus.PROCESSING.value]),
            Job.status == outbox.DEAD,
            ~exists().where(
                live.dedupe_key.in_([Refund.id + f":{suffix}" for suffix in REFUND_JOBS]),
                live.status.in_([outbox.QUEUED, outbox.RUNNING]),
            ),
        )
    )


def _failed_late_payments() -> Select[Refund]:
    retry = aliased(Refund)
    return select(Refund).where(
        Refund.kind == RefundKind.LATE_PAYMENT.value,
        Refund.status == RefundStatus.FAILED.value,
        ~exists().where(retry.retry_of == Refund.id),
    )


def _unpaid_cancelled_cards() -> Select[Refund]:
    """A cancelled card's refund that the gateway refused or finance rejected, not retried yet: the buyer
    has a closed card and no money back (its value is back on the closed card, where nobody can spend it)."""
    retry = aliased(Refund)
    return select(Refund).where(
        Refund.kind == RefundKind.CARD_CANCELLED.value,
        Refund.status.in_([RefundStatus.FAILED.value, RefundStatus.REJECTED.value]),
        ~exists().where(retry.retry_of == Refund.id),
    )


def list_unpaid_cancelled_cards(session: Session, limit: int) -> Sequence[Refund]:
    return session.scalars(
        _unpaid_cancelled_cards().order_by(Refund.created_at, Refund.id).limit(limit)
    ).all()


def count_unpaid_cancelled_cards(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(_unpaid_cancelled_cards().subquery())) or 0)


def list_stuck(session: Session, limit: int) -> Sequence[tuple[Refund, Job]]:
    rows = session.execute(_stuck().order_by(Refund.created_at, Refund.id).limit(limit)).all()
    return [(row[0], row[1]) for row in rows]


def list_failed_late_payments(session: Session, limit: int) -> Sequence[Refund]:
    return session.scalars(_failed_late_payments().order_by(Refund.created_at, Refund.id).limit(limit)).all()


def count_stuck(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(_stuck().subquery())) or 0)


def count_failed_late_payments(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(_failed_late_payments().subquery())) or 0)


def dead_job_of(session: Session, refund_id: str) -> Job | None:
    return session.scalars(
        select(Job)
        .where(
            Job.dedupe_key.in_([f"{refund_id}:{suffix}" for suffix in REFUND_JOBS]), Job.status == outbox.DEAD
        )
        .order_by(Job.id.desc())
        .limit(1)
    ).first()


@dataclass(frozen=True)
class RefundFilter:
    """The refunds history's filters; `None` means any. `since` inclusive, `until` exclusive (created)."""

    status: str | None = None
    card_ids: Sequence[int] | None = None
    channel: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def search(session: Session, filters: RefundFilter, *, offset: int, limit: int) -> Sequence[Refund]:
    """Every refund matching, newest first, with its order's channel as the channel filter."""
    query = select(Refund).order_by(Refund.created_at.desc(), Refund.id.desc()).offset(offset).limit(limit)
    if filters.status:
        query = query.where(Refund.status == filters.status)
    if filters.card_ids is not None:
        query = query.where(Refund.card_id.in_(list(filters.card_ids)))
    if filters.channel:
        query = query.join(TopupOrder, TopupOrder.id == Refund.order_id).where(
            TopupOrder.channel == filters.channel
        )
    if filters.since is not None:
        query = query.where(Refund.created_at >= filters.since)
    if filters.until is not None:
        query = query.where(Refund.created_at < filters.until)
    return session.scalars(query).all()
