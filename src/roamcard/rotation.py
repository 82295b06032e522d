"""`roamcard keys rotate`: re-encrypt every stored secret under the current purpose key.

After ROAMCARD_SECRET_KEY is rotated (new secret in ROAMCARD_SECRET_KEY, old one in
ROAMCARD_SECRET_KEY_PREVIOUS), what was encrypted under the old key still opens, but only while the old
secret stays configured. This walks every column that holds an encrypted secret, opens each value with
whichever key it names and seals it again under the current key, in short transactions of BATCH_SIZE
rows, so that the previous secret can then be dropped. Values already under the current key are left
alone, so running it twice (or after an interrupted run) is safe. Keyed hashes (phone codes) and CSRF
tokens are short-lived and simply expire; bearer-token hashes are unkeyed (kit/tokens.py).
docs/security.md, "Rotating the secret key", has the whole procedure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, update

from roamcard import keys
from roamcard.db import Database
from roamcard.esim import confirmation
from roamcard.models import Dealer, EsimProfile, PartnerKey, StaffMember, StaffSession
from roamcard.reseller import signing
from roamcard.staff import totp

BATCH_SIZE = 500


@dataclass(frozen=True)
class StoredSecret:
    """One column of encrypted secrets: how to tell a value is current and how to seal it again."""

    name: str
    model: Any
    column: str
    is_current: Callable[[Any, str], bool]
    reseal: Callable[[Any, str], str]  # raises keys.UnknownKey or ValueError when no key opens it


def _totp_current(_row: Any, value: str) -> bool:
    return totp.is_current(value)


def _totp_reseal(_row: Any, value: str) -> str:
    return totp.encrypt(totp.decrypt(value))


def _dealer_current(_row: Any, value: str) -> bool:
    return value.partition(".")[0] == keys.current(signing.PURPOSE).key_id


def _dealer_reseal(row: Any, value: str) -> str:
    return signing.seal(row.api_key_id, signing.unseal(row.api_key_id, value))


def _confirmation_current(_row: Any, value: str) -> bool:
    return confirmation.is_current(value)


def _confirmation_reseal(row: Any, value: str) -> str:
    return confirmation.seal(row.iccid, confirmation.unseal(row.iccid, value))


STORED_SECRETS: tuple[StoredSecret, ...] = (
    StoredSecret("staff TOTP secrets", StaffMember, "totp_secret_encrypted", _totp_current, _totp_reseal),
    StoredSecret("pending TOTP enrolments", StaffSession, "pending_totp_secret", _totp_current, _totp_reseal),
    StoredSecret("dealer API secrets", Dealer, "api_secret_encrypted", _dealer_current, _dealer_reseal),
    # Sealed the same way (reseller/signing.py), one row per key.
    StoredSecret("partner API secrets", PartnerKey, "api_secret_encrypted", _dealer_current, _dealer_reseal),
    StoredSecret(
        "eSIM confirmation codes",
        EsimProfile,
        "confirmation_code",
        _confirmation_current,
        _confirmation_reseal,
    ),
)


@dataclass
class RotationReport:
    resealed: dict[str, int] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)
    # (what, row id) of values no configured key opens: rotated out already, or damaged.
    unreadable: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unreadable


def count(database: Database) -> int:
    """How many stored secrets there are (for a progress bar)."""
    total = 0
    with database.reading() as session:
        for stored in STORED_SECRETS:
            column = getattr(stored.model, stored.column)
            total += (
                session.scalar(select(func.count()).select_from(stored.model).where(column.is_not(None))) or 0
            )
    return total


def rotate(database: Database, on_progress: Callable[[int], None] | None = None) -> RotationReport:
    report = RotationReport()
    for stored in STORED_SECRETS:
        report.resealed[stored.name] = report.current[stored.name] = 0
        column = getattr(stored.model, stored.column)
        after = 0
        while True:
            with database.transaction() as session:
                rows = session.scalars(
                    select(stored.model)
                    .where(stored.model.id > after, column.is_not(None))
                    .order_by(stored.model.id)
                    .limit(BATCH_SIZE)
                ).all()
                for row in rows:
                    value = getattr(row, stored.column)
                    if stored.is_current(row, value):
                        report.current[stored.name] += 1
                        continue
                    try:
                        resealed = stored.reseal(row, value)
                    except (keys.UnknownKey, ValueError):
                        report.unreadable.append((stored.name, row.id))
                        continue
                    # Conditional, so a value changed meanwhile (a new enrolment) is never overwritten.
                    session.execute(
                        update(stored.model)
                        .where(stored.model.id == row.id, column == value)
                        .values({stored.column: resealed})
                        .execution_options(synchronize_session=False)
                    )
                    report.resealed[stored.name] += 1
            if not rows:
                break
            after = rows[-1].id
            if on_progress is not None:
                on_progress(len(rows))
    return report


__all__ = ["BATCH_SIZE", "STORED_SECRETS", "RotationReport", "StoredSecret", "count", "rotate"]
