from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, literal, select, update
from sqlalchemy.orm import Session

from roamcard.kit.sql import Tx
from roamcard.lifecycle import HISTORY
from roamcard.models import (
    CardReviewFlag,
    StateTransition,
    Voucher,
    VoucherBatch,
    VoucherOperation,
)
from roamcard.models.base import UTCDateTime
from roamcard.topup.service import prepaid
from roamcard.voucher.states import AttemptOutcome, VoucherStatus


# -- batches and vouchers -------------------------------------------------------------------------
def get_batch_by_name(session: Session, name: str) -> VoucherBatch | None:
    return session.scalars(select(VoucherBatch).where(VoucherBatch.name == name)).one_or_none()


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


# -- the redemption's hot path (lean SQL through kit.sql.Tx) -------------------------------------------
@dataclass(frozen=True)
class BatchTerms:
    """What a batch sells: fixed once the batch is made."""

    id: int
    face_value_amount: int
    face_value_currency: str
    product_id: str
    product_kind: str
    product_name_en: str
    product_name_zh: str
    grants: list[dict[str, Any]]
    validity_days: int | None
    expires_at: datetime


@dataclass(frozen=True)
class PinMatch:
    """The voucher a PIN names, with its batch's terms (one indexed read)."""

    serial: str
    status: str
    redeemed_card_id: int | None
    order_id: str | None
    batch: BatchTerms


_BY_PIN_HASH = (
    "SELECT v.id, v.status, v.redeemed_card_id, v.order_id, b.id, b.face_value_amount, "
    "b.face_value_currency, b.product_id, b.product_kind, b.product_name_en, b.product_name_zh, b.grants, "
    "b.validity_days, b.expires_at FROM vouchers v JOIN voucher_batches b ON b.id = v.batch_id "
    "WHERE v.pin_hash = :pin_hash"
)
_STATE = "SELECT status, redeemed_card_id, order_id FROM vouchers WHERE id = :serial"


def find_by_pin_hash(tx: Tx, pin_hash: bytes) -> PinMatch | None:
    row = tx.one(_BY_PIN_HASH, pin_hash=pin_hash)
    if row is None:
        return None
    serial, status, redeemed_card_id, order_id, batch_id, amount, currency = row[:7]
    product_id, kind, name_en, name_zh, grants, validity_days, expires_at = row[7:]
    at = tx.dt(expires_at)
    assert at is not None
    terms = BatchTerms(
        batch_id, amount, currency, product_id, kind, name_en, name_zh, tx.loads(grants), validity_days, at
    )
    return PinMatch(serial, status, redeemed_card_id, order_id, terms)


def reread(tx: Tx, match: PinMatch) -> PinMatch:
    """The voucher as it is now (after losing a race for it), with the same batch terms."""
    row = tx.one(_STATE, serial=match.serial)
    assert row is not None
    return PinMatch(match.serial, row[0], row[1], row[2], match.batch)


_INSERT_ATTEMPT = (
    "INSERT INTO voucher_attempts (card_id, client_key, channel, outcome, voucher_id, at) "
    "VALUES (:card_id, :client_key, :channel, :outcome, :voucher_id, :at)"
)
# Both brute-force limits from one read: each row says whether it counts for the card, the client, or both.
_WRONG_PINS_OF_CARD_OR_CLIENT = (
    "SELECT card_id = :card_id, client_key = :client_key, at FROM voucher_attempts "
    "WHERE outcome = :outcome AND at > :since AND (card_id = :card_id OR client_key = :client_key) "
    "ORDER BY at"
)
_WRONG_PINS_OF_CARD = (
    "SELECT count(*) FROM voucher_attempts WHERE card_id = :card_id AND outcome = :outcome AND at > :since"
)
_OPEN_FLAG = (
    "SELECT 1 FROM card_review_flags WHERE card_id = :card_id AND reason = :reason AND resolved_at IS NULL "
    "LIMIT 1"
)
_INSERT_FLAG = (
    "INSERT INTO card_review_flags (card_id, reason, detail, created_at) "
    "VALUES (:card_id, :reason, :detail, :now)"
)


def record_attempt(
    tx: Tx,
    *,
    card_id: int,
    client_key: str,
    channel: str,
    outcome: AttemptOutcome,
    voucher_id: str | None,
    at: datetime,
) -> None:
    tx.run(
        _INSERT_ATTEMPT,
        card_id=card_id,
        client_key=client_key,
        channel=channel,
        outcome=outcome.value,
        voucher_id=voucher_id,
        at=at,
    )


def wrong_pin_times(
    tx: Tx, *, since: datetime, card_id: int, client_key: str
) -> tuple[list[datetime], list[datetime]]:
    """When the wrong PINs since `since` were entered, oldest first: (the card's, the client's)."""
    of_card: list[datetime] = []
    of_client: list[datetime] = []
    for for_card, for_client, at in tx.all(
        _WRONG_PINS_OF_CARD_OR_CLIENT,
        card_id=card_id,
        client_key=client_key,
        outcome=AttemptOutcome.WRONG_PIN.value,
        since=since,
    ):
        moment = tx.dt(at)
        assert moment is not None
        if for_card:
            of_card.append(moment)
        if for_client:
            of_client.append(moment)
    return of_card, of_client


def count_wrong_pins(tx: Tx, *, since: datetime, card_id: int) -> int:
    return int(
        tx.value(_WRONG_PINS_OF_CARD, card_id=card_id, outcome=AttemptOutcome.WRONG_PIN.value, since=since)
    )


def has_open_flag(tx: Tx, card_id: int, reason: str) -> bool:
    return tx.one(_OPEN_FLAG, card_id=card_id, reason=reason) is not None


def add_flag(tx: Tx, card_id: int, reason: str, detail: str, now: datetime) -> None:
    tx.run(_INSERT_FLAG, card_id=card_id, reason=reason, detail=detail, now=now)


def open_flags(session: Session) -> Sequence[CardReviewFlag]:
    return session.scalars(
        select(CardReviewFlag).where(CardReviewFlag.resolved_at.is_(None)).order_by(CardReviewFlag.id)
    ).all()


# PostgreSQL: both brute-force limits and the PIN's voucher in one read. It always answers one row: the
# wrong PINs' times (the card's, the client's, oldest first; NULL when none), then the voucher and its
# batch (NULLs when the PIN matches none). The caller looks at the limits first, exactly as on SQLite.
_LIMITS_AND_PIN_PG = (
    "SELECT w.of_card, w.of_client, v.* FROM (SELECT "  # noqa: S608 (constants only)
    "array_agg(at ORDER BY at) FILTER (WHERE card_id = :card_id) AS of_card, "
    "array_agg(at ORDER BY at) FILTER (WHERE client_key = :client_key) AS of_client "
    "FROM voucher_attempts WHERE outcome = :outcome AND at > :since "
    "AND (card_id = :card_id OR client_key = :client_key)) w "
    f"LEFT JOIN ({_BY_PIN_HASH.replace('SELECT v.id, ', 'SELECT v.id AS serial, ', 1)}) v ON TRUE"
)


def _times(tx: Tx, values: list[Any] | None) -> list[datetime]:
    return [moment for moment in (tx.dt(value) for value in values or ()) if moment is not None]


def limits_and_pin(
    tx: Tx, *, since: datetime, card_id: int, client_key: str, pin_hash: bytes
) -> tuple[list[datetime], list[datetime], PinMatch | None]:
    """`wrong_pin_times` and `find_by_pin_hash` together: one statement on PostgreSQL, two on SQLite."""
    if tx.is_sqlite:
        of_card, of_client = wrong_pin_times(tx, since=since, card_id=card_id, client_key=client_key)
        return of_card, of_client, find_by_pin_hash(tx, pin_hash)
    row = tx.one(
        _LIMITS_AND_PIN_PG,
        card_id=card_id,
        client_key=client_key,
        outcome=AttemptOutcome.WRONG_PIN.value,
        since=since,
        pin_hash=pin_hash,
    )
    assert row is not None
    return _times(tx, row[0]), _times(tx, row[1]), None if row[2] is None else _match(tx, row[2:])


def _match(tx: Tx, row: tuple[Any, ...]) -> PinMatch:
    serial, status, redeemed_card_id, order_id, batch_id, amount, currency = row[:7]
    product_id, kind, name_en, name_zh, grants, validity_days, expires_at = row[7:]
    at = tx.dt(expires_at)
    assert at is not None
    terms = BatchTerms(
        batch_id, amount, currency, product_id, kind, name_en, name_zh, tx.loads(grants), validity_days, at
    )
    return PinMatch(serial, status, redeemed_card_id, order_id, terms)


# PostgreSQL: the whole redemption's write in one statement. The voucher's conditional transition decides
# (of two redemptions of one PIN exactly one gets a row from `won`); everything else is written only for
# that row: the voucher's history, the paid order and its two history rows, the face value from the
# liability to sales (operator accounts keep no cached balance, so the transfer is its row), the attempt.
_REDEEM_PG = (
    "WITH won AS (UPDATE vouchers SET status = :redeemed, updated_at = :now, redeemed_card_id = :card_id, "  # noqa: S608
    "order_id = :id WHERE id = :serial AND status = :active RETURNING id), "
    f"voucher_history AS ({HISTORY.insert_into()}"
    "SELECT :voucher_entity, id, :active, :redeemed, :voucher_reason, :now FROM won), "
    f"ordered AS ({prepaid.INSERT_PAID_ORDER.replace(') VALUES (', ') SELECT ', 1)[:-1]} FROM won), "
    f"order_history AS ({HISTORY.insert_into()}"
    "SELECT CAST(:entity_type AS VARCHAR), CAST(:id AS VARCHAR), NULL, "
    "CAST(:pending AS VARCHAR), NULL, :now FROM won UNION ALL "
    "SELECT CAST(:entity_type AS VARCHAR), CAST(:id AS VARCHAR), "
    "CAST(:pending AS VARCHAR), CAST(:paid AS VARCHAR), CAST(:paid_by AS VARCHAR), :now FROM won), "
    'moved AS (INSERT INTO ledger_transfers ("key", debit_account_id, credit_account_id, asset, amount, '
    "reason, reference, created_at) SELECT :transfer_key, :debit, :credit, :price_currency, :price_amount, "
    ":transfer_reason, :id, :now FROM won ON CONFLICT DO NOTHING RETURNING id), "
    "attempt AS (INSERT INTO voucher_attempts (card_id, client_key, channel, outcome, voucher_id, at) "
    "SELECT :card_id, :client_key, :attempt_channel, :outcome, id, :now FROM won) "
    "SELECT (SELECT count(*) FROM won), (SELECT count(*) FROM moved)"
)


def redeem_pg(tx: Tx, **params: Any) -> bool:
    """Run `_REDEEM_PG` (its parameters are the order's, see `prepaid.paid_order`, and the redemption's);
    returns whether this redemption won the voucher."""
    row = tx.one(_REDEEM_PG, **params)
    assert row is not None
    won, moved = int(row[0]), int(row[1])
    # A voucher leaves `active` once, so its transfer key cannot be taken by then.
    assert moved == won, "the redemption's transfer key was already used"
    return won == 1
