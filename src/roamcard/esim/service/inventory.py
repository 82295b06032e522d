"""The SM-DP+ vendor's profile inventory: import a delivery file, allocate profiles, watch the stock.

A delivery file is CSV with the header
`iccid,imsi,msisdn,smdp_address,matching_id,confirmation_code_required,confirmation_code`
(the last two optional). Each row is checked on its own; the good rows are loaded and the bad ones are
reported with their line, field and reason. A file with a secret column (Ki, OPc, PIN/PUK, ...) is refused
whole: those keys belong in the HLR/HSS, never here.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.esim import confirmation, repository
from roamcard.esim.activation_code import is_fqdn, is_matching_id
from roamcard.esim.states import HELD_BY_CARD, EsimStatus
from roamcard.kit import clock, luhn
from roamcard.kit.sql import Tx
from roamcard.lifecycle import HISTORY, as_tx
from roamcard.models import EsimProfile

log = structlog.get_logger("roamcard.esim")

REQUIRED_COLUMNS = ("iccid", "imsi", "msisdn", "smdp_address", "matching_id")
OPTIONAL_COLUMNS = ("confirmation_code_required", "confirmation_code")
# Subscriber keys and SIM secrets (normalised: lower case, letters and digits only).
SECRET_COLUMN = re.compile(
    r"^(ki|k|eki|opc|op|pin\d?|puk\d?|adm\d?|kic\d*|kid\d*|kik\d*|ota.*key|.*secret.*|.*privatekey.*)$"
)
BATCH_ROWS = 2000
MAX_CONFIRMATION_CODE = 32

PROFILES_AVAILABLE = Gauge("roamcard_esim_profiles_available", "eSIM profiles in stock, as last counted.")
LOW_STOCK_ALERTS = Counter(
    "roamcard_esim_low_stock_alerts_total",
    "Allocations that left fewer than ROAMCARD_ESIM_LOW_STOCK profiles.",
)


class SecretColumnInFile(ValueError):
    def __init__(self, column: str) -> None:
        super().__init__(column)
        self.column = column


class BadImportFile(ValueError):
    """The file cannot be read as a delivery file at all (no header, a required column missing)."""


@dataclass(frozen=True)
class Rejection:
    line: int  # the file's line number; the header is line 1
    field: str
    reason: str


@dataclass
class ImportReport:
    loaded: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.rejected


def _normalised(column: str) -> str:
    return re.sub(r"[^a-z0-9]", "", column.lower())


def check_header(columns: Iterable[str]) -> list[str]:
    """Raises for a secret or a missing column; returns the columns that are neither ours nor secret."""
    columns = [column.strip() for column in columns]
    for column in columns:
        if SECRET_COLUMN.match(_normalised(column)):
            raise SecretColumnInFile(column)
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise BadImportFile(f"the header lacks {', '.join(missing)}")
    return [column for column in columns if column not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]


def _is_e164(text: str) -> bool:
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", text):
        return False
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number) and (
        phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == text
    )


def _flag(text: str) -> bool | None:
    return {"": False, "0": False, "false": False, "1": True, "true": True}.get(text.lower())


def check_row(row: dict[str, str]) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """The row's values, or the (field, reason) problems that keep it out. Duplicates are checked later."""
    problems: list[tuple[str, str]] = []
    values = {column: (row.get(column) or "").strip() for column in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    for column, value in values.items():
        if "$" in value:
            problems.append((column, "contains '$', the activation code's delimiter"))
    iccid = values["iccid"]
    if not iccid.isdigit() or len(iccid) not in (19, 20):
        problems.append(("iccid", "must be 19 or 20 digits"))
    elif not iccid.startswith("89"):
        problems.append(("iccid", "must start with 89 (telecommunications)"))
    elif not luhn.is_valid(iccid):
        problems.append(("iccid", "the Luhn check digit is wrong"))
    imsi = values["imsi"]
    if not imsi.isdigit() or not 14 <= len(imsi) <= 15:
        problems.append(("imsi", "must be 14 or 15 digits"))
    msisdn = values["msisdn"]
    if msisdn and not _is_e164(msisdn):
        problems.append(("msisdn", "is not a valid E.164 number (+ and country code, no spaces)"))
    if not is_fqdn(values["smdp_address"]):
        problems.append(("smdp_address", "is not a plain domain name (no scheme, port or path)"))
    matching_id = values["matching_id"]
    if not matching_id or not is_matching_id(matching_id):
        problems.append(("matching_id", "must be digits, capital letters A-Z and hyphens"))
    required = _flag(values["confirmation_code_required"])
    code = values["confirmation_code"]
    if required is None:
        problems.append(("confirmation_code_required", "must be 1 or 0 (or empty)"))
    elif required and not code:
        problems.append(("confirmation_code", "is required by confirmation_code_required"))
    elif not required and code:
        problems.append(("confirmation_code", "is given but confirmation_code_required is not 1"))
    elif code and (len(code) > MAX_CONFIRMATION_CODE or not code.isprintable() or " " in code):
        problems.append(("confirmation_code", "must be at most 32 printable characters without spaces"))
    if problems:
        return None, problems
    return {
        "iccid": iccid,
        "imsi": imsi,
        "msisdn": msisdn or None,
        "smdp_address": values["smdp_address"],
        "matching_id": matching_id,
        "confirmation_code_required": bool(required),
        "confirmation_code": code or None,
    }, []


def _read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise BadImportFile("the file is empty")
        check_header(reader.fieldnames)
        for row in reader:
            yield reader.line_num, row


def header_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def import_file(
    session: Session, path: Path, *, on_progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Checks the header before anything is stored (a secret column refuses the file), then loads the
    good rows in bulk. The caller commits."""
    report = ImportReport(ignored_columns=check_header(header_of(path)))
    seen_iccids: set[str] = set()
    seen_msisdns: set[str] = set()
    batch: list[tuple[int, dict[str, Any]]] = []
    read = 0
    for line, row in _read_rows(path):
        read += 1
        values, problems = check_row(row)
        if values is not None:
            if values["iccid"] in seen_iccids:
                problems.append(("iccid", "appears twice in this file"))
            if values["msisdn"] and values["msisdn"] in seen_msisdns:
                problems.append(("msisdn", "appears twice in this file"))
        if problems:
            report.rejected.extend(Rejection(line, name, reason) for name, reason in problems)
        else:
            assert values is not None
            seen_iccids.add(values["iccid"])
            if values["msisdn"]:
                seen_msisdns.add(values["msisdn"])
            batch.append((line, values))
        if len(batch) >= BATCH_ROWS:
            _load(session, batch, report)
            batch = []
        if on_progress and read % BATCH_ROWS == 0:
            on_progress(BATCH_ROWS)
    if batch:
        _load(session, batch, report)
    if on_progress and read % BATCH_ROWS:
        on_progress(read % BATCH_ROWS)
    if report.loaded:
        refresh_stock_gauge(session)
    return report


def _load(session: Session, batch: list[tuple[int, dict[str, Any]]], report: ImportReport) -> None:
    known_iccids = repository.known_iccids(session, (values["iccid"] for _, values in batch))
    now = clock.now()
    known_msisdns = repository.known_msisdns(session, (v["msisdn"] for _, v in batch if v["msisdn"]), now=now)
    rows = []
    for line, values in batch:
        if values["iccid"] in known_iccids:
            report.rejected.append(Rejection(line, "iccid", "is already known"))
            continue
        if values["msisdn"] in known_msisdns:
            report.rejected.append(Rejection(line, "msisdn", "is already taken by another profile"))
            continue
        code = values["confirmation_code"]
        rows.append(
            values
            | {
                "confirmation_code": confirmation.seal(values["iccid"], code) if code else None,
                "status": str(EsimStatus.AVAILABLE),
                "created_at": now,
            }
        )
    if not rows:
        return
    _insert_rows(session, rows)
    repository.record_imported(session, [row["iccid"] for row in rows], now)
    report.loaded += len(rows)


COPY_COLUMNS = (
    "iccid",
    "imsi",
    "msisdn",
    "smdp_address",
    "matching_id",
    "confirmation_code_required",
    "confirmation_code",
    "status",
    "created_at",
)


def _insert_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(EsimProfile.__table__), rows)  # type: ignore[arg-type]
        return
    # COPY: several times faster than a multi-row INSERT for a delivery file of 100,000 profiles.
    driver = connection.connection.driver_connection
    assert driver is not None
    statement = f"COPY esim_profiles ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(tuple(row[column] for column in COPY_COLUMNS))


# -- allocation -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Allocated:
    profile_id: int
    iccid: str


def allocate(db: Session | Tx, card_id: int) -> Allocated | None:
    """Give the next available profile to this card, exactly once; None when the stock is empty."""
    tx = as_tx(db)
    now = clock.now()
    row = tx.one(
        repository.ALLOCATE_SQLITE if tx.is_sqlite else repository.ALLOCATE_PG, card_id=card_id, at=now
    )
    if row is None:
        _stock_checked(tx, 0)
        return None
    profile_id, iccid = row
    tx.run(
        HISTORY.insert_sql(),
        entity_type="esim",
        entity_id=str(profile_id),
        from_status="available",
        to_status="allocated",
        reason=f"card {card_id}",
        at=now,
    )
    _stock_checked(tx, tx.value(repository.COUNT_AVAILABLE))
    return Allocated(profile_id, iccid)


def ensure_profile(session: Session, card_id: int) -> str | None:
    """The card's current profile's ICCID, allocating one when it holds none (the demo's cards)."""
    held = session.scalar(
        select(EsimProfile.iccid)
        .where(EsimProfile.card_id == card_id, EsimProfile.status.in_([str(s) for s in HELD_BY_CARD]))
        .order_by(EsimProfile.id.desc())
        .limit(1)
    )
    if held is not None:
        return held
    allocated = allocate(session, card_id)
    return allocated.iccid if allocated else None


def _stock_checked(tx: Tx, available: int) -> None:
    PROFILES_AVAILABLE.set(available)
    threshold = get_settings().esim_low_stock
    if available < threshold:
        LOW_STOCK_ALERTS.inc()
        log.warning("esim.low_stock", available=available, threshold=threshold)


def available_count(db: Session | Tx) -> int:
    return int(as_tx(db).value(repository.COUNT_AVAILABLE))


def refresh_stock_gauge(db: Session | Tx) -> int:
    available = available_count(db)
    PROFILES_AVAILABLE.set(available)
    return available


def low_stock(db: Session | Tx) -> int | None:
    """The number left when below ROAMCARD_ESIM_LOW_STOCK (the back office shows a banner), else None."""
    available = refresh_stock_gauge(db)
    return available if available < get_settings().esim_low_stock else None
