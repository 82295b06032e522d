"""Wrong promo codes are limited the way wrong recharge PINs are (voucher/service/redeem.py): every wrong
code is an attempt in `voucher_attempts` (outcome `wrong_promo_code`, never the code), and once a card,
or a client (IP address), has given `promo_code_max_failures_per_hour` wrong codes within an hour, the
next order or quote with a code is refused with 429 `promo_code_locked` and Retry-After until the oldest
of them is an hour old. Wrong PINs and wrong promo codes are counted apart (their outcomes differ).

The count is exact under parallel attempts for one card (`counting`): on PostgreSQL a transaction-scoped
advisory lock per card is taken before the count is read (as recharge PINs do), and a wrong code's
request undoes its work to a savepoint taken after the count, writes its attempt in the same transaction
and commits it (`PromoCodeWrong`, which keeps its changes) before the lock is let go, so the next
attempt of that card counts it. SQLite runs one write transaction at a time (`BEGIN IMMEDIATE`)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from roamcard.config import get_settings
from roamcard.errors import TooManyRequests
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.promotion.service.apply import PromoCodeUnknown

HOUR = timedelta(hours=1)
OUTCOME = "wrong_promo_code"

_WRONG_OF_CARD_OR_CLIENT = (
    "SELECT card_id = :card_id, client_key = :client_key, at FROM voucher_attempts "
    "WHERE outcome = :outcome AND at > :since AND (card_id = :card_id OR client_key = :client_key) "
    "ORDER BY at"
)


_LOCK_CARD = "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"


class PromoCodeLocked(TooManyRequests):
    code = "promo_code_locked"
    message = "Too many wrong promo codes. Try again in {minutes} minutes."


class PromoCodeWrong(PromoCodeUnknown):
    """`PromoCodeUnknown` once its attempt is written: the edge commits the attempt (and nothing else,
    the rest was undone to the savepoint) instead of rolling back."""

    keeps_changes = True


@contextmanager
def counting(
    tx: Tx, *, card_id: int, client_key: str, channel: str, active: bool, check_first: bool = True
) -> Iterator[None]:
    """The part of a request that tries a promo code (`active`: it has one), counted exactly: the card's
    lock (PostgreSQL), the limits (`check_first`; False when the block checks them itself, after the lock),
    then the block in a savepoint. A code that names nothing undoes the block, records the attempt and
    raises `PromoCodeWrong`. Without a code: just the block."""
    if not active:
        yield
        return
    if not tx.is_sqlite:
        tx.run(_LOCK_CARD, key=f"promo-code:card:{card_id}")
    if check_first:
        check(tx, card_id=card_id, client_key=client_key)
    try:
        with tx.savepoint():
            yield
    except PromoCodeWrong:
        raise
    except PromoCodeUnknown as wrong:
        record_wrong(tx, card_id=card_id, client_key=client_key, channel=channel)
        raise PromoCodeWrong() from wrong


def client_key_of(ip: str | None) -> str:
    return (ip or "unknown")[:100]


def _retry_after(times: list[datetime], limit: int, now: datetime) -> int | None:
    if len(times) < limit:
        return None
    frees_at = times[len(times) - limit] + HOUR
    return max(1, math.ceil((frees_at - now).total_seconds()))


def check(tx: Tx, *, card_id: int, client_key: str) -> None:
    """Raise `PromoCodeLocked` when the card or the client has given too many wrong codes this hour."""
    now = clock.now()
    of_card: list[datetime] = []
    of_client: list[datetime] = []
    rows = tx.all(
        _WRONG_OF_CARD_OR_CLIENT, card_id=card_id, client_key=client_key, outcome=OUTCOME, since=now - HOUR
    )
    for for_card, for_client, at in rows:
        moment = tx.dt(at)
        assert moment is not None
        if for_card:
            of_card.append(moment)
        if for_client:
            of_client.append(moment)
    limit = get_settings().promo_code_max_failures_per_hour
    waits = [w for w in (_retry_after(of_card, limit, now), _retry_after(of_client, limit, now)) if w]
    if waits:
        raise PromoCodeLocked(max(waits))


def record_wrong(tx: Tx, *, card_id: int, client_key: str, channel: str) -> None:
    from roamcard.voucher import repository as attempts  # the PIN attempts' own writer
    from roamcard.voucher.states import AttemptOutcome

    attempts.record_attempt(
        tx,
        card_id=card_id,
        client_key=client_key,
        channel=channel,
        outcome=AttemptOutcome.WRONG_PROMO_CODE,
        voucher_id=None,
        at=clock.now(),
    )
