"""Offline charging records (`roamcard cdr import FILE.csv`): rate call, SMS and data records after the fact
with the rule of online charging (`rating.allocate`: packs whose coverage includes the visited country,
earliest expiry first, then the balance at the zone's rate, rounded up to a whole minor unit; an emergency
call of the visited country, or 112/911 anywhere, zero-rated with a zero-cost record kept).

An offline record reports usage the network has already allowed, so nothing is reserved: each share is
debited at once, a ledger transfer keyed `cdr:{record_id}:pack:{allowance_id}` or `cdr:{record_id}:balance`
to the usage counter. What neither packs nor balance can pay for is not charged (as an OCS does with
offline CDRs: charge what can be paid and report the shortfall): the wallet never goes below its lower
bound, the record keeps `units_unpaid` and the import reports it. Records are rated whatever the card's
status now (the usage happened while the network let it), and a pack counts when it was live at the
record's `started_at` and has not been expired since.

Idempotent by `record_id`: the record's fields are kept with their hash (`fingerprint`); the same record
again changes nothing, the same `record_id` with other fields is a rejected row. Rows are checked before
anything is written (unknown IMSI, bad kind, a timestamp without an offset, negative units, a malformed
MCC/MNC ...), so a rejected row changes nothing. Batches of `batch_size` records commit together
(`database.tx()`, the lean path)."""

from __future__ import annotations

import csv
import hashlib
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from roamcard.charging import repository
from roamcard.charging.service.rating import KIND_ASSET, Rate, allocate, rate_for
from roamcard.charging.states import GrantSource
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.ledger.service import Account
from roamcard.network import plmn as plmn_table
from roamcard.network.emergency import is_emergency

COLUMNS = ("record_id", "imsi", "started_at", "kind", "units", "called", "mcc", "mnc")
KINDS = {"voice": "voice", "call": "voice", "sms": "sms", "data": "data"}
OFFLINE_RATING_GROUP = 0  # slices of a CDR name no rating group of a session
BATCH_SIZE = 500
WORKERS = 4  # threads on PostgreSQL (docs/performance.md)

_INSERT_RECORD = (
    "INSERT INTO cdr_records (record_id, fingerprint, card_id, imsi, started_at, kind, units, called, mcc, "
    "mnc, country, emergency, charged_amount, charged_currency, units_unpaid, imported_at) VALUES "
    "(:record_id, :fingerprint, :card_id, :imsi, :started_at, :kind, :units, :called, :mcc, :mnc, :country, "
    ":emergency, 0, :currency, 0, :now) ON CONFLICT DO NOTHING RETURNING id"
)
_RECORD_FINGERPRINT = "SELECT fingerprint FROM cdr_records WHERE record_id = :record_id"
_RECORD_CHARGED = "UPDATE cdr_records SET charged_amount = :charged, units_unpaid = :unpaid WHERE id = :id"
_INSERT_SLICE = (
    "INSERT INTO charging_grants (cdr_record_id, card_id, rating_group, kind, source, allowance_id, country, "
    "units_granted, units_used, price_amount, price_currency, charged_amount, created_at, settled_at) VALUES "
    "(:cdr_id, :card_id, :rating_group, :kind, :source, :allowance_id, :country, :units, :units, "
    ":price_amount, :price_currency, :charged, :now, :started_at)"
)


@dataclass(frozen=True)
class CdrRow:
    line: int  # the row's number in the file (the header is row 1)
    record_id: str
    imsi: str
    started_at: datetime
    kind: str
    units: int
    called: str | None
    mcc: str
    mnc: str

    def fingerprint(self) -> str:
        text = "\x1f".join(
            (
                self.record_id,
                self.imsi,
                self.started_at.astimezone(UTC).isoformat(),
                self.kind,
                str(self.units),
                self.called or "",
                self.mcc,
                self.mnc,
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    reason: str
    record_id: str | None = None


@dataclass
class ImportReport:
    rated: int = 0
    unchanged: int = 0
    emergency: int = 0
    short: int = 0  # records rated with a shortfall (units_unpaid > 0)
    units_unpaid: dict[str, int] = field(default_factory=dict)
    charged: dict[str, int] = field(default_factory=dict)  # balance debited, per currency
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.rated + self.unchanged + len(self.rejected)


@dataclass
class _Outcome:
    state: str  # rated | unchanged | rejected
    charged: int = 0
    unpaid: int = 0
    currency: str = ""
    kind: str = ""
    emergency: bool = False
    rejection: Rejection | None = None


# -- reading and checking rows -----------------------------------------------------------------------------
def read_rows(stream: IO[str]) -> Iterator[CdrRow | Rejection]:
    """Each data row of the CSV, parsed, or why it cannot be."""
    reader = csv.DictReader(stream)
    missing = [name for name in COLUMNS if name not in (reader.fieldnames or ())]
    if missing:
        yield Rejection(1, missing[0], "missing column")
        return
    for line, raw in enumerate(reader, start=2):
        yield parse_row(line, raw)


def parse_row(line: int, raw: dict[str, str | None]) -> CdrRow | Rejection:
    def text(name: str) -> str:
        return (raw.get(name) or "").strip()

    record_id = text("record_id")
    if not record_id or len(record_id) > 64 or not record_id.isprintable():
        return Rejection(line, "record_id", "empty, longer than 64 characters or not printable")

    def reject(name: str, reason: str) -> Rejection:
        return Rejection(line, name, reason, record_id)

    imsi = text("imsi")
    if not imsi.isdigit() or not 6 <= len(imsi) <= 15:
        return reject("imsi", "not an IMSI (6 to 15 digits)")
    try:
        started_at = datetime.fromisoformat(text("started_at"))
    except ValueError:
        return reject("started_at", "not an ISO 8601 timestamp")
    if started_at.tzinfo is None or started_at.utcoffset() is None:
        return reject("started_at", "timestamp without a UTC offset")
    kind = KINDS.get(text("kind").lower())
    if kind is None:
        return reject("kind", "not one of voice, call, sms, data")
    try:
        units = int(text("units"))
    except ValueError:
        return reject("units", "not a whole number")
    if units < 0:
        return reject("units", "negative units")
    mcc, mnc = text("mcc"), text("mnc")
    if len(mcc) != 3 or not mcc.isdigit():
        return reject("mcc", "not an MCC (3 digits)")
    if len(mnc) not in (2, 3) or not mnc.isdigit():
        return reject("mnc", "not an MNC (2 or 3 digits)")
    called = text("called") or None
    if called is not None and len(called) > 64:
        return reject("called", "longer than 64 characters")
    return CdrRow(line, record_id, imsi, started_at.astimezone(UTC), kind, units, called, mcc, mnc)


# -- rating ------------------------------------------------------------------------------------------------
@dataclass
class Rater:
    """Rates records in lean transactions, remembering what does not change during an import: the card of
    each IMSI, the zone rate per (kind, country, currency) and the country of each PLMN."""

    cards: dict[str, tuple[int, str] | None] = field(default_factory=dict)
    rates: dict[tuple[str, str | None, str], Rate | None] = field(default_factory=dict)
    countries: dict[tuple[str, str], str | None] = field(default_factory=dict)
    wallets: dict[int, Account] = field(default_factory=dict)
    locked: set[int] = field(default_factory=set)  # cards locked by the current transaction

    def begin(self) -> None:
        """A new transaction: it holds no card lock yet."""
        self.locked.clear()

    def wallet(self, tx: Tx, card_id: int, currency: str) -> Account:
        known = self.wallets.get(card_id)
        if known is None:
            known = ledger.wallet(tx, card_id, currency)
            tx.after_commit(lambda: self.wallets.__setitem__(card_id, known))  # a rolled-back one may vanish
        return known

    def card(self, tx: Tx, imsi: str) -> tuple[int, str] | None:
        if imsi not in self.cards:
            row = tx.one(repository.CARD_BY_IMSI, value=imsi)
            self.cards[imsi] = None if row is None else (int(row[0]), str(row[2]))
        return self.cards[imsi]

    def rate(self, tx: Tx, kind: str, country: str | None, currency: str) -> Rate | None:
        key = (kind, country, currency)
        if key not in self.rates:
            self.rates[key] = rate_for(tx, kind, country, currency)
        return self.rates[key]

    def country(self, mcc: str, mnc: str) -> str | None:
        key = (mcc, mnc)
        if key not in self.countries:
            self.countries[key] = plmn_table.lookup(mcc, mnc).country
        return self.countries[key]

    def rate_record(self, tx: Tx, row: CdrRow) -> _Outcome:
        found = self.card(tx, row.imsi)
        if found is None:
            return _Outcome("rejected", rejection=Rejection(row.line, "imsi", "unknown IMSI", row.record_id))
        card_id, currency = found
        country = self.country(row.mcc, row.mnc)
        emergency = row.kind == "voice" and row.called is not None and is_emergency(country, row.called)
        now = clock.now()
        cdr_id = tx.value(
            _INSERT_RECORD,
            record_id=row.record_id,
            fingerprint=row.fingerprint(),
            card_id=card_id,
            imsi=row.imsi,
            started_at=row.started_at,
            kind=row.kind,
            units=row.units,
            called=row.called,
            mcc=row.mcc,
            mnc=row.mnc,
            country=country,
            emergency=emergency,
            currency=currency,
            now=now,
        )
        if cdr_id is None:
            if tx.value(_RECORD_FINGERPRINT, record_id=row.record_id) == row.fingerprint():
                return _Outcome("unchanged")
            reason = "record_id already imported with different fields"
            return _Outcome("rejected", rejection=Rejection(row.line, "record_id", reason, row.record_id))
        slice_params = {
            "cdr_id": cdr_id,
            "card_id": card_id,
            "rating_group": OFFLINE_RATING_GROUP,
            "kind": row.kind,
            "country": country,
            "now": now,
            "started_at": row.started_at,
        }
        if emergency:
            tx.run(
                _INSERT_SLICE,
                **slice_params,
                source=GrantSource.EMERGENCY.value,
                allowance_id=None,
                units=row.units,
                price_amount=None,
                price_currency=None,
                charged=0,
            )
            return _Outcome("rated", currency=currency, emergency=True)
        if row.units == 0:
            return _Outcome("rated", currency=currency)
        if not tx.is_sqlite and card_id not in self.locked:
            # Lock order: the card before its ledger rows (as online charging); held until the batch commits.
            tx.run(repository.LOCK_CARD, card_id=card_id)
            self.locked.add(card_id)
        rate = self.rate(tx, row.kind, country, currency)
        allocation = allocate(
            tx,
            card_id=card_id,
            kind=row.kind,
            country=country,
            currency=currency,
            units=row.units,
            at=row.started_at,
            rate=rate,
            wallet=self.wallet(tx, card_id, currency) if rate is not None else None,
        )
        for pack in allocation.packs:
            ledger.transfer(
                tx,
                key=f"cdr:{row.record_id}:pack:{pack.allowance_id}",
                debit=pack.account,
                credit=ledger.operator(tx, "usage", KIND_ASSET[row.kind].value),
                amount=pack.units,
                reason="usage",
                reference=row.record_id,
            )
            tx.run(
                _INSERT_SLICE,
                **slice_params,
                source=GrantSource.PACK.value,
                allowance_id=pack.allowance_id,
                units=pack.units,
                price_amount=None,
                price_currency=None,
                charged=None,
            )
        charged = 0
        share = allocation.balance
        if share is not None:
            if share.cost > 0:
                ledger.transfer(
                    tx,
                    key=f"cdr:{row.record_id}:balance",
                    debit=share.wallet,
                    credit=ledger.operator(tx, "usage", currency),
                    amount=share.cost,
                    reason="usage",
                    reference=row.record_id,
                )
            charged = share.cost
            tx.run(
                _INSERT_SLICE,
                **slice_params,
                source=GrantSource.BALANCE.value,
                allowance_id=None,
                units=share.units,
                price_amount=share.rate.price,
                price_currency=currency,
                charged=share.cost,
            )
        if charged or allocation.unpaid:
            tx.run(_RECORD_CHARGED, id=cdr_id, charged=charged, unpaid=allocation.unpaid)
        return _Outcome("rated", charged=charged, unpaid=allocation.unpaid, currency=currency, kind=row.kind)


def import_rows(
    database: Database,
    rows: Iterable[CdrRow | Rejection],
    *,
    batch_size: int = BATCH_SIZE,
    workers: int = 1,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """The use case of `roamcard cdr import` (it commits, one lean transaction per batch of records).

    With `workers` > 1 on PostgreSQL the records are rated by that many threads, each on its own connection:
    the records are split by IMSI, so one card's records stay in one thread, in file order, and two threads
    never wait for the same card's lock; a record_id met again goes to the thread that had it first, so the
    reused-key check sees the first one in the same transaction order. SQLite has one writer: one thread."""
    report = ImportReport()
    lanes = 1 if database.is_sqlite else max(1, workers)
    progress_lock = threading.Lock()

    def advance(count: int) -> None:
        if on_progress is not None:
            with progress_lock:
                on_progress(count)

    if lanes == 1:
        _rate_lane(database, rows, batch_size, report, advance)
    else:
        split: list[list[CdrRow]] = [[] for _ in range(lanes)]
        lane_of_record: dict[str, int] = {}
        for row in rows:
            if isinstance(row, Rejection):
                report.rejected.append(row)
                advance(1)
                continue
            lane = lane_of_record.setdefault(row.record_id, zlib.crc32(row.imsi.encode()) % lanes)
            split[lane].append(row)
        reports = [ImportReport() for _ in range(lanes)]
        with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="cdr") as pool:
            for done in [
                pool.submit(_rate_lane, database, split[i], batch_size, reports[i], advance)
                for i in range(lanes)
            ]:
                done.result()
        for part in reports:
            _merge(report, part)
    report.rejected.sort(key=lambda rejection: rejection.line)
    return report


def _rate_lane(
    database: Database,
    rows: Iterable[CdrRow | Rejection],
    batch_size: int,
    report: ImportReport,
    advance: Callable[[int], None],
) -> None:
    rater = Rater()
    batch: list[CdrRow] = []

    def flush() -> None:
        if not batch:
            return
        with database.tx() as tx:
            rater.begin()
            outcomes = [rater.rate_record(tx, row) for row in batch]
        for outcome in outcomes:
            _count(report, outcome)
        advance(len(batch))
        batch.clear()

    for row in rows:
        if isinstance(row, Rejection):
            report.rejected.append(row)
            advance(1)
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            flush()
    flush()


def _merge(report: ImportReport, part: ImportReport) -> None:
    report.rated += part.rated
    report.unchanged += part.unchanged
    report.emergency += part.emergency
    report.short += part.short
    report.rejected.extend(part.rejected)
    for kind, units in part.units_unpaid.items():
        report.units_unpaid[kind] = report.units_unpaid.get(kind, 0) + units
    for currency, amount in part.charged.items():
        report.charged[currency] = report.charged.get(currency, 0) + amount


def _count(report: ImportReport, outcome: _Outcome) -> None:
    if outcome.state == "unchanged":
        report.unchanged += 1
        return
    if outcome.state == "rejected":
        assert outcome.rejection is not None
        report.rejected.append(outcome.rejection)
        return
    report.rated += 1
    if outcome.emergency:
        report.emergency += 1
    if outcome.charged:
        report.charged[outcome.currency] = report.charged.get(outcome.currency, 0) + outcome.charged
    if outcome.unpaid:
        report.short += 1
        report.units_unpaid[outcome.kind] = report.units_unpaid.get(outcome.kind, 0) + outcome.unpaid
