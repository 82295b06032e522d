"""One rating group's grant and its settlement.

A grant is the smallest of what was requested, the rating group's default quota (settings) and what the
card can pay for: first packs whose coverage includes the visited country (earliest expiry first; a pack
whose product names no countries covers every country), then the balance at the zone's rate. Each slice is
a ledger reservation (ledger/reservations.py) held until the session reports what it used; nothing is
debited for what was only requested. An emergency call is granted zero-rated, whatever the card's status
or balance, and its slice is kept as a zero-cost record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from roamcard.card.states import CardStatus
from roamcard.charging import repository
from roamcard.charging.service import alerts
from roamcard.charging.service.rating import KIND_ASSET, Rate, allocate
from roamcard.charging.states import GrantSource, ResultCode
from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.kit.sql import Tx
from roamcard.ledger import reservations
from roamcard.ledger import service as ledger
from roamcard.network.emergency import is_emergency

UNIT_FIELD = {"data": "totalVolume", "voice": "time", "sms": "serviceSpecificUnits"}


@dataclass
class Context:
    """What every rating group of one request shares."""

    session_id: int
    ref: str
    card_id: int
    card_status: str
    currency: str
    country: str | None
    called: str | None
    sequence_number: int
    slice_counter: list[int] = field(default_factory=lambda: [0])

    def next_key(self, rating_group: int) -> str:
        self.slice_counter[0] += 1
        return f"chg:{self.ref}:{self.sequence_number}:{rating_group}:{self.slice_counter[0]}"


def default_quota(kind: str) -> int:
    settings = get_settings()
    return {
        "data": settings.charging_quota_data_bytes,
        "voice": settings.charging_quota_voice_seconds,
        "sms": settings.charging_quota_sms,
    }[kind]


def emergency_call(context: Context, kind: str) -> bool:
    return kind == "voice" and context.called is not None and is_emergency(context.country, context.called)


def _slice(
    tx: Tx,
    context: Context,
    rating_group: int,
    kind: str,
    source: GrantSource,
    units: int,
    *,
    allowance_id: int | None = None,
    reservation_id: int | None = None,
    rate: Rate | None = None,
) -> None:
    tx.run(
        repository.INSERT_GRANT,
        session_id=context.session_id,
        card_id=context.card_id,
        rating_group=rating_group,
        kind=kind,
        source=source.value,
        allowance_id=allowance_id,
        reservation_id=reservation_id,
        country=context.country,
        units=units,
        price_amount=rate.price if rate is not None else None,
        price_currency=rate.currency if rate is not None else None,
        now=clock.now(),
    )


def grant(tx: Tx, context: Context, rating_group: int, kind: str, requested: int | None) -> dict[str, Any]:
    """Reserve and answer one rating group's request (a `multipleUnitInformation` entry)."""
    quota = default_quota(kind)
    want = quota if not requested else min(requested, quota)
    validity = get_settings().charging_validity_seconds
    now = clock.now()
    if emergency_call(context, kind):
        _slice(tx, context, rating_group, kind, GrantSource.EMERGENCY, want)
        return _answer(rating_group, kind, want, validity, final=False)
    if context.card_status != CardStatus.ACTIVE:
        return {"ratingGroup": rating_group, "resultCode": ResultCode.END_USER_SERVICE_DENIED.value}
    expires_at = now + timedelta(seconds=validity)
    allocation = allocate(
        tx,
        card_id=context.card_id,
        kind=kind,
        country=context.country,
        currency=context.currency,
        units=want,
        at=now,
        spare_limit=quota,
    )
    if allocation.packs:
        usage = ledger.operator(tx, "usage", KIND_ASSET[kind].value)
    for pack in allocation.packs:
        held_until = min(expires_at, pack.expires_at)
        reservation = reservations.reserve(
            tx,
            key=context.next_key(rating_group),
            account=pack.account,
            counter=usage,
            amount=pack.units,
            expires_at=held_until,
            reference=context.ref,
        )
        _slice(
            tx,
            context,
            rating_group,
            kind,
            GrantSource.PACK,
            pack.units,
            allowance_id=pack.allowance_id,
            reservation_id=reservation.id,
        )
        validity = min(validity, max(1, int((held_until - now).total_seconds())))
    share = allocation.balance
    if share is not None:
        reservation_id: int | None = None
        if share.cost > 0:
            reservation_id = reservations.reserve(
                tx,
                key=context.next_key(rating_group),
                account=share.wallet,
                counter=ledger.operator(tx, "usage", context.currency),
                amount=share.cost,
                expires_at=expires_at,
                reference=context.ref,
            ).id
        _slice(
            tx,
            context,
            rating_group,
            kind,
            GrantSource.BALANCE,
            share.units,
            reservation_id=reservation_id,
            rate=share.rate,
        )
    left = allocation.unpaid
    spare = allocation.spare  # 0: this grant is the last
    granted = want - left
    if granted == 0:
        return {
            "ratingGroup": rating_group,
            "resultCode": ResultCode.QUOTA_LIMIT_REACHED.value,
            "finalUnitIndication": {"finalUnitAction": "TERMINATE"},
        }
    return _answer(rating_group, kind, granted, validity, final=spare == 0)


def _answer(rating_group: int, kind: str, units: int, validity: int, *, final: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "ratingGroup": rating_group,
        "resultCode": ResultCode.SUCCESS.value,
        "grantedUnit": {UNIT_FIELD[kind]: units},
        "validityTime": validity,
    }
    if final:
        answer["finalUnitIndication"] = {"finalUnitAction": "TERMINATE"}
    return answer


def settle(tx: Tx, session_id: int, rating_group: int, used: int) -> None:
    """Apportion what the session used of this rating group over its open slices, in the order they were
    granted (packs first, then balance), post that much of each reservation and void the rest. Usage beyond
    what was granted is not charged: the network enforces the grant. A posting that takes a pack to 80 % or
    100 %, or the balance below its threshold, queues that alert (service/alerts.py)."""
    remaining = max(0, used)
    now = clock.now()
    for grant_id, source, reservation_id, granted, price, kind, card_id, allowance_id, currency in tx.all(
        repository.OPEN_GRANTS, session_id=session_id, rating_group=rating_group
    ):
        units = min(remaining, int(granted))
        remaining -= units
        charged: int | None = None
        if source == GrantSource.PACK and reservation_id is not None:
            posted = reservations.settle(tx, int(reservation_id), units)
            if posted > 0 and allowance_id is not None:  # 80 % / 100 % of the pack (one cheap statement)
                alerts.pack_used(tx, int(card_id), int(allowance_id), posted)
        elif source == GrantSource.BALANCE:
            cost = Rate(kind, int(price or 0), "").cost(units)
            charged = reservations.settle(tx, int(reservation_id), cost) if reservation_id is not None else 0
            if charged > 0 and reservation_id is not None and currency:  # below the low-balance threshold
                alerts.balance_charged(tx, int(card_id), currency, charged, int(reservation_id))
        elif source == GrantSource.EMERGENCY:
            charged = 0
        tx.run(repository.SETTLE_GRANT, id=grant_id, used=units, charged=charged, now=now)


def settle_all(tx: Tx, session_id: int) -> None:
    """Release: whatever is still open is voided."""
    for (rating_group,) in tx.all(repository.OPEN_GRANTS_OF_SESSION, session_id=session_id):
        settle(tx, session_id, int(rating_group), 0)
