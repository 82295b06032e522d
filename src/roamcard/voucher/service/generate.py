"""Generate a batch of recharge cards: `serial,pin` written once, PINs stored only as keyed hashes.

A million vouchers in well under a minute with flat memory: vouchers are made, inserted and written out
one chunk at a time, each chunk its own short transaction (so a long run never holds SQLite's write lock
for long). The batch stays `generating` until the last chunk is in; a run that stops half-way leaves a
batch that can never be activated (block it and generate a new one).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from roamcard.catalog import repository as catalog_repository
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.i18n import gettext
from roamcard.kit import clock
from roamcard.kit.money import SUPPORTED_CURRENCIES, Money
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.models import Dealer, VoucherBatch
from roamcard.voucher import codes, repository
from roamcard.voucher.service.lifecycle import BatchProblem
from roamcard.voucher.states import BatchStatus

CHUNK_SIZE = 10_000
# A PIN hash collision needs ~10^8 live vouchers to become likely; a chunk retrying this often is a bug.
MAX_COLLISION_ROUNDS = 20
RECHARGE_CARD_PRODUCT = "recharge-card"


@dataclass(frozen=True)
class BatchSpec:
    name: str
    count: int
    currency: str
    expires_on: date
    face_value: int | None = None  # minor units; or
    product_id: str | None = None  # a catalogue pack, priced in `currency`
    dealer_id: str | None = None  # public id of the only dealer allowed to sell it
    actor: str = "cli"


def expiry_instant(expires_on: date) -> datetime:
    """Valid through the whole of `expires_on` in the operator's time zone."""
    local = ZoneInfo(get_settings().default_timezone)
    return datetime.combine(expires_on + timedelta(days=1), time(0), tzinfo=local).astimezone(UTC)


def create_batch(session: Session, spec: BatchSpec) -> VoucherBatch:
    name = spec.name.strip()
    if not 1 <= len(name) <= 64 or not name.isprintable():
        raise BatchProblem("a batch name has 1 to 64 printable characters")
    if repository.get_batch_by_name(session, name) is not None:
        raise BatchProblem(f"a batch named {name!r} already exists")
    if not 1 <= spec.count <= codes.MAX_BATCH_COUNT:
        raise BatchProblem(f"--count must be between 1 and {codes.MAX_BATCH_COUNT}")
    if spec.currency not in SUPPORTED_CURRENCIES:
        raise BatchProblem(f"--currency must be one of {', '.join(SUPPORTED_CURRENCIES)}")
    expires_at = expiry_instant(spec.expires_on)
    now = clock.now()
    if expires_at <= now:
        raise BatchProblem("--expires must be a date in the future")
    if (spec.face_value is None) == (spec.product_id is None):
        raise BatchProblem("give either --face-value or --product")
    dealer_id = None
    if spec.dealer_id is not None:
        from roamcard.dealer import repository as dealer_repository

        dealer: Dealer | None = dealer_repository.get_by_public_id(session, spec.dealer_id)
        if dealer is None:
            raise BatchProblem(f"there is no dealer {spec.dealer_id!r}")
        if dealer.currency != spec.currency:
            raise BatchProblem(f"dealer {spec.dealer_id} keeps its float in {dealer.currency}")
        dealer_id = dealer.id
    batch = VoucherBatch(
        name=name,
        status=BatchStatus.GENERATING.value,
        face_value_currency=spec.currency,
        count=spec.count,
        generated_count=0,
        serial_first="",
        serial_last="",
        expires_at=expires_at,
        dealer_id=dealer_id,
        created_by=spec.actor[:120],
        created_at=now,
        **_what_it_buys(session, spec),
    )
    session.add(batch)
    session.flush()
    batch.serial_first = codes.serial(batch.id, 1)
    batch.serial_last = codes.serial(batch.id, spec.count)
    session.flush()
    return batch


def _what_it_buys(session: Session, spec: BatchSpec) -> dict[str, object]:
    if spec.face_value is not None:
        if spec.face_value <= 0:
            raise BatchProblem("--face-value is a positive amount in minor units (1000 = 10.00)")
        if spec.currency not in CURRENCY_ASSETS:
            raise BatchProblem(f"{spec.currency} is not a balance currency")
        value = Money(spec.face_value, spec.currency)
        return {
            "face_value_amount": spec.face_value,
            "product_id": RECHARGE_CARD_PRODUCT,
            "product_kind": "balance",
            "product_name_en": gettext("Recharge card {value}", "en", value=value.format("en")),
            "product_name_zh": gettext("Recharge card {value}", "zh-CN", value=value.format("zh-CN")),
            "grants": [{"asset": spec.currency, "amount": spec.face_value}],
            "validity_days": None,
        }
    assert spec.product_id is not None
    product = catalog_repository.get_active(session, spec.product_id)
    if product is None:
        raise BatchProblem(f"there is no active product {spec.product_id!r}")
    if product.kind == "starter":
        raise BatchProblem(f"{spec.product_id} is a new card (starter), sold by card orders only")
    if product.custom_min is not None or not product.grants:
        raise BatchProblem(f"{spec.product_id} has no fixed value; a recharge card needs one")
    if spec.currency not in product.prices:
        raise BatchProblem(f"{spec.product_id} has no price in {spec.currency}")
    return {
        "face_value_amount": product.prices[spec.currency],
        "product_id": product.id,
        "product_kind": product.kind,
        "product_name_en": product.name_en,
        "product_name_zh": product.name_zh,
        "grants": list(product.grants),
        "validity_days": product.validity_days,
    }


def insert_chunk(
    session: Session,
    batch_id: int,
    pins: dict[str, str],
    *,
    hasher: Callable[[str], bytes],
    new_pin: Callable[[], str],
    now: datetime,
) -> dict[str, str]:
    """Insert `serial -> pin`; a PIN whose hash is already taken (by any voucher, or by another in this
    chunk) is drawn again. Returns the PINs as stored, the only copy in clear."""
    final = dict(pins)
    pending = dict(pins)
    for _ in range(MAX_COLLISION_ROUNDS):
        inserted = repository.insert_generated(
            session, batch_id, [(serial, hasher(pin)) for serial, pin in pending.items()], now
        )
        if inserted == len(pending):
            return final
        present = repository.existing_serials(session, min(pending), max(pending))
        pending = {serial: new_pin() for serial in pending if serial not in present}
        final.update(pending)
    raise RuntimeError("PIN hashes kept colliding: is the PIN generator random?")


def generate_batch(
    database: Database,
    spec: BatchSpec,
    out: TextIO,
    *,
    chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
    new_pin: Callable[[], str] | None = None,
) -> VoucherBatch:
    """Create the batch, then make, store and write out its vouchers chunk by chunk (`serial,pin` CSV
    with a header). Commits per chunk: this is a CLI edge, not a service inside someone's transaction."""
    with database.transaction() as session:
        batch = create_batch(session, spec)
    hasher = codes.pin_hasher()
    draw = new_pin or codes.new_pin
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["serial", "pin"])
    prefix = str(codes.batch_number(batch.id))
    for start in range(1, spec.count + 1, chunk_size):
        end = min(spec.count, start + chunk_size - 1)
        serials = [f"{prefix}{sequence:0{codes.SEQUENCE_DIGITS}d}" for sequence in range(start, end + 1)]
        drawn = [draw() for _ in serials] if new_pin else codes.new_pins(len(serials))
        pins = dict(zip(serials, drawn, strict=True))
        with database.transaction() as session:
            pins = insert_chunk(session, batch.id, pins, hasher=hasher, new_pin=draw, now=clock.now())
            session.execute(
                update(VoucherBatch)
                .where(VoucherBatch.id == batch.id)
                .values(generated_count=VoucherBatch.generated_count + len(pins))
                .execution_options(synchronize_session=False)
            )
        # Written only once the chunk is committed: the file never holds a PIN the database lacks.
        writer.writerows(pins.items())
        if on_progress is not None:
            on_progress(len(pins))
    out.flush()
    with database.transaction() as session:
        session.execute(
            update(VoucherBatch)
            .where(VoucherBatch.id == batch.id, VoucherBatch.generated_count == spec.count)
            .values(status=BatchStatus.READY.value)
            .execution_options(synchronize_session=False)
        )
        ready = session.get(VoucherBatch, batch.id, populate_existing=True)
        assert ready is not None
        assert ready.status == BatchStatus.READY.value
    return ready
