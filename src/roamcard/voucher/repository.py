from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, literal, select, update
from sqlalchemy.orm import Session

from roamcard.models import (
    CardReviewFlag,
    StateTransition,
    Voucher,
    VoucherAttempt,
    VoucherBatch,
    VoucherOperation,
)
from roamcard.models.base import UTCDateTime
from roamcard.voucher.states import AttemptOutcome, VoucherStatus


# -- batches and vouchers -------------------------------------------------------------------------
def get_batch_by_name(session: Session, name: str) -> VoucherBatch | None:
    return session.scalars(select(VoucherBatch).where(VoucherBatch.name == name)).one_or_none()


def get_by_pin_hash(session: Session, pin_hash: bytes) -> Voucher | None:
    return session.scalars(
        select(Voucher).where(Voucher.pin_hash == pin_hash).execution_options(populate_existing=True)
    ).one_or_none()


def get(session: Session, serial: str) -> Voucher | None:
    return session.get(Voucher, serial, populate_existing=True)


def insert_generated(
    session: Session, batch_id: int, rows: Sequence[tuple[str, bytes]], now: datetime
) -> int:
    """Insert `(serial, pin_hash)` rows as `generated` vouchers; a row whose PIN hash (or serial) already
    exists is skipped. Returns how many went in.

    This is the bulk path of `vouchers generate` (a million rows a run), so it talks to the driver
    directly, in the session's transaction: `executemany … ON CONFLICT DO NOTHING` on SQLite; on
    PostgreSQL `COPY` straight into the table inside a savepoint, and only when that meets a duplicate
    (a PIN hash collision: about never) `COPY` into a staging table and `INSERT … ON CONFLICT DO NOTHING`."""
    connection = session.connection()
    status = VoucherStatus.GENERATED.value
    if connection.dialect.name == "postgresql":
        from psycopg.errors import UniqueViolation

        raw: Any = connection.connection.driver_connection
        copy_in = "COPY vouchers (id, batch_id, pin_hash, status, updated_at) FROM STDIN"
        # COPY's text format, built in one string (a row at a time through the driver costs 3x more).
        tail = f"\t{status}\t{now.isoformat()}\n"
        text_rows = "".join(f"{serial}\t{batch_id}\t\\\\x{pin_hash.hex()}{tail}" for serial, pin_hash in rows)
        try:
            with raw.transaction(), raw.cursor() as cursor, cursor.copy(copy_in) as copy:  # a SAVEPOINT
                copy.write(text_rows)
            return len(rows)
        except UniqueViolation:
            pass  # the savepoint is rolled back: insert what does not collide
        with raw.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE voucher_staging (id varchar(20), pin_hash bytea) ON COMMIT DROP"
            )
            with cursor.copy("COPY voucher_staging (id, pin_hash) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                "INSERT INTO vouchers (id, batch_id, pin_hash, status, updated_at)"
                " SELECT id, %s, pin_hash, %s, %s FROM voucher_staging ON CONFLICT DO NOTHING",
                (batch_id, status, now),
            )
            inserted = int(cursor.rowcount)
            cursor.execute("DROP TABLE voucher_staging")
        return inserted
    # Exactly what the ORM stores for `now` (SQLite keeps timestamps as text in one format).
    to_text = UTCDateTime().dialect_impl(connection.dialect).bind_processor(connection.dialect)
    stamp = to_text(now) if to_text is not None else now
    result = connection.exec_driver_sql(
        "INSERT INTO vouchers (id, batch_id, pin_hash, status, updated_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [(serial, batch_id, pin_hash, status, stamp) for serial, pin_hash in rows],
    )
    return int(result.rowcount)


def existing_serials(session: Session, first: str, last: str) -> set[str]:
    return set(session.scalars(select(Voucher.id).where(Voucher.id.between(first, last))).all())


def _range(batch_id: int, first: str, last: str, status: VoucherStatus) -> list[ColumnElement[bool]]:
    return [Voucher.id.between(first, last), Voucher.batch_id == batch_id, Voucher.status == status.value]


def transition_range(
    session: Session,
    *,
    batch_id: int,
    first: str,
    last: str,
    source: VoucherStatus,
    target: VoucherStatus,
    reason: str,
    now: datetime,
) -> int:
    """Set-based `UPDATE … SET status=:target WHERE serial in range AND status=:source`, with one
    `state_transitions` row per voucher it changed, in one statement on PostgreSQL (a data-modifying
    CTE, so a concurrent redemption cannot slip between the two) and two on SQLite (whose write
    transaction already excludes every other writer). Returns how many vouchers changed."""
    conditions = _range(batch_id, first, last, source)
    columns = ["entity_type", "entity_id", "from_status", "to_status", "reason", "at"]
    constants = (
        literal("voucher"),
        literal(source.value),
        literal(target.value),
        literal(reason),
        literal(now, UTCDateTime()),
    )
    change = (
        update(Voucher)
        .where(*conditions)
        .values(status=target.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if session.get_bind().dialect.name == "postgresql":
        # WITH changed AS (UPDATE … RETURNING id), recorded AS (INSERT … SELECT … FROM changed RETURNING id)
        # SELECT count(*) FROM recorded  (the driver reports no row count for a DML statement with a CTE)
        changed = change.returning(Voucher.id).cte("changed")
        entity_type, from_status, to_status, why, at = constants
        recorded = (
            insert(StateTransition)
            .from_select(columns, select(entity_type, changed.c.id, from_status, to_status, why, at))
            .returning(StateTransition.id)
            .cte("recorded")
        )
        return int(session.scalar(select(func.count()).select_from(recorded)) or 0)
    entity_type, from_status, to_status, why, at = constants
    history = session.execute(
        insert(StateTransition).from_select(
            columns, select(entity_type, Voucher.id, from_status, to_status, why, at).where(*conditions)
        )
    )
    result = session.execute(change)
    assert result.rowcount == history.rowcount  # type: ignore[attr-defined]
    return int(result.rowcount)  # type: ignore[attr-defined]


def status_counts(session: Session, batch: VoucherBatch) -> dict[str, int]:
    rows = session.execute(
        select(Voucher.status, func.count())
        .where(Voucher.id.between(batch.serial_first, batch.serial_last), Voucher.batch_id == batch.id)
        .group_by(Voucher.status)
    ).all()
    return {status: int(count) for status, count in rows}


def first_live_serial(session: Session, batch: VoucherBatch) -> str | None:
    return session.scalar(
        select(func.min(Voucher.id)).where(
            Voucher.id.between(batch.serial_first, batch.serial_last),
            Voucher.batch_id == batch.id,
            Voucher.status.in_([VoucherStatus.GENERATED.value, VoucherStatus.ACTIVE.value]),
        )
    )


def next_lapsed_batch(session: Session, now: datetime) -> VoucherBatch | None:
    return session.scalars(
        select(VoucherBatch)
        .where(VoucherBatch.expires_at <= now, VoucherBatch.expiry_swept_at.is_(None))
        .order_by(VoucherBatch.expires_at, VoucherBatch.id)
        .limit(1)
    ).first()


def active_face_value_by_currency(session: Session) -> dict[str, int]:
    """What the active (sold, unredeemed, unexpired) vouchers are worth: the liability they represent."""
    rows = session.execute(
        select(VoucherBatch.face_value_currency, func.sum(VoucherBatch.face_value_amount))
        .join(Voucher, Voucher.batch_id == VoucherBatch.id)
        .where(Voucher.status == VoucherStatus.ACTIVE.value)
        .group_by(VoucherBatch.face_value_currency)
    ).all()
    return {currency: int(total or 0) for currency, total in rows}


def history(session: Session, serial: str) -> Sequence[StateTransition]:
    return session.scalars(
        select(StateTransition)
        .where(StateTransition.entity_type == "voucher", StateTransition.entity_id == serial)
        .order_by(StateTransition.at, StateTransition.id)
    ).all()


def operations(session: Session, batch_id: int) -> Sequence[VoucherOperation]:
    return session.scalars(
        select(VoucherOperation).where(VoucherOperation.batch_id == batch_id).order_by(VoucherOperation.id)
    ).all()


# -- attempts and review flags --------------------------------------------------------------------
def record_attempt(
    session: Session,
    *,
    card_id: int,
    client_key: str,
    channel: str,
    outcome: AttemptOutcome,
    voucher_id: str | None,
    at: datetime,
) -> None:
    session.add(
        VoucherAttempt(
            card_id=card_id,
            client_key=client_key,
            channel=channel,
            outcome=outcome.value,
            voucher_id=voucher_id,
            at=at,
        )
    )
    session.flush()


def wrong_pin_times(
    session: Session, *, since: datetime, card_id: int | None = None, client_key: str | None = None
) -> list[datetime]:
    """When the wrong PINs since `since` were entered, oldest first, for one card or one client."""
    query = select(VoucherAttempt.at).where(
        VoucherAttempt.outcome == AttemptOutcome.WRONG_PIN.value, VoucherAttempt.at > since
    )
    if card_id is not None:
        query = query.where(VoucherAttempt.card_id == card_id)
    if client_key is not None:
        query = query.where(VoucherAttempt.client_key == client_key)
    return list(session.scalars(query.order_by(VoucherAttempt.at)).all())


def has_open_flag(session: Session, card_id: int, reason: str) -> bool:
    return (
        session.scalar(
            select(CardReviewFlag.id)
            .where(
                CardReviewFlag.card_id == card_id,
                CardReviewFlag.reason == reason,
                CardReviewFlag.resolved_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


def open_flags(session: Session) -> Sequence[CardReviewFlag]:
    return session.scalars(
        select(CardReviewFlag).where(CardReviewFlag.resolved_at.is_(None)).order_by(CardReviewFlag.id)
    ).all()
