"""Single-use promo codes: made in bulk by `roamcard promotions codes`, each redeemable by one order.

A code is 12 characters from an alphabet without the look-alikes 0/O and 1/I/L (31 characters: about
59 bits), drawn from `secrets`. The CSV the command writes is the only copy of the codes: the database
keeps each one's keyed hash (keys.py purpose `promo-code`, HMAC-SHA256 tagged with the key id, the way
SMS codes and recharge PINs are never stored in clear), and a code is found by computing its hash under
the current and the previous key.

An order takes its code in its create's transaction with one conditional update: the code must be free,
or held by an order that has since expired or failed (the release: nothing has to run for it). Two
parallel orders with one code: on PostgreSQL the second update waits for the first's row lock and then
sees the code taken; on SQLite writers are serialised. A paid order keeps the code for good.
"""

from __future__ import annotations

import csv
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

from roamcard import keys
from roamcard.kit import clock
from roamcard.kit.sql import Tx

PURPOSE = "promo-code"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L
LENGTH = 12
_CHUNK = 1000

_INSERT = (
    "INSERT INTO promotion_codes (code_hash, campaign_id, order_id, created_at) "
    "VALUES (:code_hash, :campaign_id, NULL, :now) ON CONFLICT DO NOTHING"
)
_CAMPAIGN = "SELECT single_use_codes FROM promotion_campaigns WHERE id = :id"
# The hashes of one code under each live key: at most two.
_FIND = (
    "SELECT c.campaign_id, c.code_hash, c.order_id, o.status FROM promotion_codes c "
    "LEFT JOIN topup_orders o ON o.id = c.order_id WHERE c.code_hash IN (:h0, :h1)"
)
_TAKE = (
    "UPDATE promotion_codes SET order_id = :order_id, reserved_at = :now WHERE code_hash = :code_hash "
    "AND (order_id IS NULL OR order_id = :order_id OR EXISTS (SELECT 1 FROM topup_orders o "
    "WHERE o.id = promotion_codes.order_id AND o.status IN ('expired', 'failed')))"
)


class NotSingleUse(ValueError):
    """Codes are made only for a campaign whose file says `single_use_codes = true`."""


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalise(raw: str) -> str:
    """What people type: any case, with spaces or dashes between groups."""
    return "".join(raw.split()).replace("-", "").upper()


def looks_like_code(text: str) -> bool:
    return len(text) == LENGTH and all(ch in ALPHABET for ch in text)


def hashes(code: str) -> list[str]:
    return [keys.mac(PURPOSE, code.encode(), key=key) for key in keys.keys(PURPOSE)]


def generate(
    tx: Tx, campaign_id: str, count: int, out: TextIO, on_progress: Callable[[int], None] | None = None
) -> int:
    """Make `count` codes for the campaign: the hashes stored, the codes written to `out` as CSV
    (`campaign_id,code`). A clash with a stored hash (never seen in practice) draws again."""
    row = tx.one(_CAMPAIGN, id=campaign_id)
    if row is None:
        raise NotSingleUse(f"there is no campaign {campaign_id!r}")
    if not row[0]:
        raise NotSingleUse(f"campaign {campaign_id!r} does not have single_use_codes = true in its file")
    key = keys.current(PURPOSE)
    writer = csv.writer(out)
    writer.writerow(["campaign_id", "code"])
    now = clock.now()
    made = 0
    while made < count:
        written = 0
        for _ in range(min(_CHUNK, count - made)):
            code = new_code()
            tagged = keys.mac(PURPOSE, code.encode(), key=key)
            if tx.run(_INSERT, code_hash=tagged, campaign_id=campaign_id, now=now) != 1:
                continue  # drawn before: leave it out, the loop draws another
            writer.writerow([campaign_id, code])
            written += 1
        made += written
        if on_progress is not None:
            on_progress(written)
    return made


@dataclass(frozen=True)
class Found:
    campaign_id: str
    code_hash: str
    free: bool  # nobody holds it, or its holder expired or failed (as of this read)


def shared_hash(raw: str) -> str:
    """The keyed hash a quote keeps of a campaign's shared code (never the code itself)."""
    return keys.mac(PURPOSE, raw.strip().upper().encode())


def stored_hash(tx: Tx, raw: str) -> str:
    """What a quote keeps of the code it was given: a single-use code's row (its hash), or the keyed
    hash of a shared code."""
    single = find(tx, raw)
    return single.code_hash if single is not None else shared_hash(raw)


def names(raw: str, code_hash: str | None) -> bool:
    """Whether `raw` is the code a quote kept as `code_hash` (under the current or the previous key)."""
    if code_hash is None:
        return False
    candidates = hashes(normalise(raw)) + [
        keys.mac(PURPOSE, raw.strip().upper().encode(), key=key) for key in keys.keys(PURPOSE)
    ]
    return any(hmac.compare_digest(code_hash, candidate) for candidate in candidates)


def shared_code_of(code_hash: str, shared_codes: Iterable[str]) -> str | None:
    """Which of the live campaigns' shared codes a quote's hash names (None: not a shared code)."""
    for code in shared_codes:
        if names(code, code_hash):
            return code
    return None


def find_by_hash(tx: Tx, code_hash: str | None) -> Found | None:
    """The single-use code row a quote refers to (by its hash); None when it names none."""
    if not code_hash:
        return None
    row = tx.one(_FIND, h0=code_hash, h1=code_hash)
    if row is None:
        return None
    return Found(row[0], row[1], free=row[2] is None or row[3] in ("expired", "failed"))


def find(tx: Tx, raw: str | None) -> Found | None:
    """The single-use code `raw` names; None when it is not one."""
    if not raw:
        return None
    code = normalise(raw)
    if not looks_like_code(code):
        return None
    tagged = hashes(code)
    row = tx.one(_FIND, h0=tagged[0], h1=tagged[-1])
    if row is None:
        return None
    return Found(row[0], row[1], free=row[2] is None or row[3] in ("expired", "failed"))


def take(tx: Tx, code_hash: str, *, order_id: str) -> bool:
    """Give the code to this order; False when another order holds it or used it."""
    return tx.run(_TAKE, code_hash=code_hash, order_id=order_id, now=clock.now()) == 1
