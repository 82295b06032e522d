"""Status changes: by serial range (staff: activate, block; the expiry sweeper) and one voucher at a time
(a sale, a redemption, an expiry noticed at redemption). Each moves the matching value in the ledger."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.lifecycle import as_tx
from roamcard.models import VoucherBatch, VoucherOperation
from roamcard.voucher import codes, repository
from roamcard.voucher.repository import BatchTerms
from roamcard.voucher.service import books
from roamcard.voucher.states import (
    RANGE_TRANSITIONS,
    BatchStatus,
    RangeAction,
    VoucherStatus,
    voucher_machine,
)

EXPIRY_CHUNK = 20_000


class BatchProblem(ValueError):
    """An operator's request about a batch that cannot be done (shown by the CLI as is)."""


def get_batch(session: Session, name: str) -> VoucherBatch:
    batch = repository.get_batch_by_name(session, name)
    if batch is None:
        raise BatchProblem(f"there is no batch named {name!r}")
    return batch


def whole_batch(batch: VoucherBatch) -> tuple[str, str]:
    return batch.serial_first, batch.serial_last


def sub_ranges(batch: VoucherBatch, first: str, last: str, size: int) -> list[tuple[str, str]]:
    """Split `first..last` into ranges of at most `size` serials (one transaction each in the CLI)."""
    prefix = first[: -codes.SEQUENCE_DIGITS]
    start, end = int(first[len(prefix) :]), int(last[len(prefix) :])
    return [
        (codes.serial(batch.id, low), codes.serial(batch.id, min(end, low + size - 1)))
        for low in range(start, end + 1, size)
    ]


def check_range(batch: VoucherBatch, first: str, last: str) -> None:
    if first < batch.serial_first or last > batch.serial_last or first > last:
        raise BatchProblem(
            f"serials {first}-{last} are not within batch {batch.name} "
            f"({batch.serial_first}-{batch.serial_last})"
        )


def change_range(
    session: Session,
    batch: VoucherBatch,
    action: RangeAction,
    first: str,
    last: str,
    *,
    actor: str,
    note: str | None = None,
    now: datetime | None = None,
) -> VoucherOperation:
    """Apply `action` to every voucher of `first..last` whose status allows it (the others are left as
    they are), record the operation and each voucher's transition, and move the value in one transfer."""
    check_range(batch, first, last)
    now = now or clock.now()
    if action is RangeAction.ACTIVATE:
        if batch.status != BatchStatus.READY.value:
            raise BatchProblem(f"batch {batch.name} was not generated completely; it cannot be activated")
        if batch.expires_at <= now:
            raise BatchProblem(f"batch {batch.name} has expired")
    operation = VoucherOperation(
        batch_id=batch.id,
        action=action.value,
        serial_first=first,
        serial_last=last,
        actor=actor[:120],
        note=note[:200] if note else None,
        changed_count=0,
        at=now,
    )
    session.add(operation)
    session.flush()
    sources, target = RANGE_TRANSITIONS[action]
    reason = f"op {operation.id}: {action.value} by {actor}"[:200]
    changed = {
        source: repository.transition_range(
            session,
            batch_id=batch.id,
            first=first,
            last=last,
            source=source,
            target=target,
            reason=reason,
            now=now,
        )
        for source in sources
    }
    operation.changed_count = sum(changed.values())
    currency, face = batch.face_value_currency, batch.face_value_amount
    if action is RangeAction.ACTIVATE:
        debit, credit = books.account(session, books.ISSUED, currency), books.liability(session, currency)
        value = changed[VoucherStatus.GENERATED] * face
    else:
        purpose = books.BLOCKED if action is RangeAction.BLOCK else books.BREAKAGE
        debit, credit = books.liability(session, currency), books.account(session, purpose, currency)
        value = changed.get(VoucherStatus.ACTIVE, 0) * face
    if value:
        ledger.transfer(
            session,
            key=f"voucher-op:{operation.id}",
            debit=debit,
            credit=credit,
            amount=value,
            reason=f"voucher_{action.value}",
            reference=f"voucher-batch:{batch.id}",
        )
    session.flush()
    return operation


def expire_one(db: Session | Tx, serial: str, status: str, batch: BatchTerms, *, reason: str) -> bool:
    """A live voucher found past its batch's expiry (before the sweeper got to it): expire it now."""
    source = VoucherStatus(status)
    if source not in (VoucherStatus.GENERATED, VoucherStatus.ACTIVE):
        return False
    tx = as_tx(db)
    if not voucher_machine.transition(tx, serial, source, VoucherStatus.EXPIRED, reason=reason):
        return False
    if source is VoucherStatus.ACTIVE:
        currency = batch.face_value_currency
        ledger.transfer(
            tx,
            key=f"voucher:{serial}:expire",
            debit=ledger.operator(tx, books.LIABILITY, currency),
            credit=ledger.operator(tx, books.BREAKAGE, currency),
            amount=batch.face_value_amount,
            reason="voucher_expire",
            reference=f"voucher-batch:{batch.id}",
        )
    return True


def expire_lapsed(session: Session, *, limit: int = EXPIRY_CHUNK) -> int:
    """Sweeper: expire up to `limit` serials of the next batch past its expiry. Returns how many
    vouchers changed (0: nothing left to expire); safe on many workers at once (every change is
    conditional)."""
    now = clock.now()
    while (batch := repository.next_lapsed_batch(session, now)) is not None:
        first = repository.first_live_serial(session, batch)
        if first is None:  # nothing live left in it: never look at it again
            batch.expiry_swept_at = now
            session.flush()
            continue
        sequence = int(first[-codes.SEQUENCE_DIGITS :])
        last = min(batch.serial_last, codes.serial(batch.id, sequence + limit - 1))
        operation = change_range(
            session, batch, RangeAction.EXPIRE, first, last, actor="system:expiry", now=now
        )
        return operation.changed_count
    return 0
