"""Redeem a recharge card's PIN on a card: the one service every channel calls (API, portal, IVR).

A redemption is a top-up order paid by the voucher: voucher active -> redeemed (a conditional transition,
so of two parallel redemptions of one PIN exactly one wins), its face value moves from the voucher
liability to sales, and the order is fulfilled by the same fulfilment as a paid order (wallet or pack
credited, SMS queued), all in the caller's transaction.

Brute force: every PIN entry is recorded (`voucher_attempts`). Once a card, or a client (IP address, or
the caller's phone on the hotline), has entered `voucher_pin_max_failures_per_hour` wrong PINs within an
hour, the next entry is refused with 429 and Retry-After until the oldest of them is an hour old. A card
with `voucher_pin_review_failures_per_day` wrong PINs within 24 hours is flagged for review. The counts
come from the recorded attempts (one source of truth on every process, read through the injectable
clock); on PostgreSQL a transaction-scoped advisory lock per card makes the per-card count exact under
parallel requests (SQLite runs one write transaction at a time anyway).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NoReturn

import structlog
from sqlalchemy.orm import Session

from roamcard.auth.service import SignedInCard, require_active_card, signed_in_card
from roamcard.card.states import RECHARGEABLE
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.errors import AppError, Conflict, TooManyRequests, ValidationFailed
from roamcard.idempotency import service as idempotency
from roamcard.idempotency.service import StoredResponse
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import CURRENCY_ASSETS
from roamcard.lifecycle import as_tx
from roamcard.models import Card
from roamcard.promotion.service.pricing import Priced
from roamcard.topup.service.create import CardNotActive, NewOrder
from roamcard.topup.service.prepaid import PrepaidItem, fulfil_now, new_order_id, open_paid_order, paid_order
from roamcard.topup.service.quote import give_back, reserved_bonuses
from roamcard.topup.states import Channel
from roamcard.voucher import codes, repository
from roamcard.voucher.repository import PinMatch
from roamcard.voucher.service import books
from roamcard.voucher.service.lifecycle import expire_one
from roamcard.voucher.states import AttemptOutcome, VoucherStatus, voucher_machine

log = structlog.get_logger("roamcard.voucher")

PAYMENT_METHOD = "voucher"
PROMOTION_CHANNEL = "voucher"  # campaigns' channel for recharge cards, wherever the PIN is entered
TRANSFER_REASON = "voucher_redeem"
REVIEW_REASON = "voucher_pin_failures"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class VoucherPinWrong(AppError):
    """The one answer for a PIN that matches no recharge card (nothing about other PINs leaks)."""

    status_code = 400
    code = "voucher_pin_wrong"
    message = "This recharge PIN is not valid. Check it and try again."
    keeps_changes = True


class VoucherPinLocked(TooManyRequests):
    code = "voucher_pin_locked"
    message = "Too many wrong recharge PINs. Try again in {minutes} minutes."
    keeps_changes = True


class VoucherRedeemed(Conflict):
    code = "voucher_redeemed"
    message = "This recharge card has already been used."
    keeps_changes = True

    def __init__(self, order_id: str | None = None) -> None:
        super().__init__()
        self.order_id = order_id

    def problem(self, instance: str | None = None, language: str | None = None) -> dict[str, Any]:
        body = super().problem(instance, language)
        if self.order_id:  # only when it was used on this same card: a retry learns its order
            body["order_id"] = self.order_id
        return body


class VoucherBlocked(Conflict):
    code = "voucher_blocked"
    message = "This recharge card has been blocked. Call customer service."
    keeps_changes = True


class VoucherExpired(Conflict):
    code = "voucher_expired"
    message = "This recharge card has expired."
    keeps_changes = True


class VoucherNotActivated(Conflict):
    code = "voucher_not_activated"
    message = "This recharge card has not been activated yet. Ask the shop that sold it."
    keeps_changes = True


class VoucherWrongCurrency(Conflict):
    code = "voucher_wrong_currency"
    message = "This recharge card is for a balance in {currency}; this card's balance is in {card_currency}."
    keeps_changes = True


def redeem_request(
    database: Database,
    token: str,
    pin: str,
    *,
    key: str | None,
    path: str,
    render: Callable[[NewOrder], dict[str, Any]],
    client_key: str,
) -> StoredResponse:
    """The API's whole redemption on the lean path, in one transaction: the bearer token (the card must
    be active), then `redeem` or, with an Idempotency-Key, `redeem_once`. A refusal that is a recorded
    attempt (`keeps_changes`) commits, as at every edge."""
    with database.tx() as tx:
        card = require_active_card(signed_in_card(tx, token))
        if key is None:
            order = redeem(tx, card, pin, channel=Channel.VOUCHER, client_key=client_key)
            return StoredResponse(201, render(order), replayed=False)
        return redeem_once(tx, card, pin, key=key, path=path, render=render, client_key=client_key)


def redeem_once(
    db: Session | Tx,
    card: Card | SignedInCard,
    pin: str,
    *,
    key: str,
    path: str,
    render: Callable[[NewOrder], dict[str, Any]],
    client_key: str,
) -> StoredResponse:
    """`redeem` behind an Idempotency-Key (the API): a retry of a redemption that succeeded gets the
    first answer again instead of `voucher_redeemed`. The fingerprint holds the PIN only as its peppered
    hash; a refusal frees the key (its attempt is still counted), so the client may try again."""
    scope = f"card:{card.id}:vouchers"
    pin_hash = codes.hash_pin(codes.normalise_pin(pin) or pin).hex()
    fingerprint = idempotency.request_fingerprint("POST", path, {"pin_hash": pin_hash})
    replay = idempotency.begin(db, scope=scope, key=key, fingerprint=fingerprint)
    if replay is not None:
        return replay
    try:
        order = redeem(db, card, pin, channel=Channel.VOUCHER, client_key=client_key)
    except AppError:
        idempotency.abandon(db, scope=scope, key=key)
        raise
    body = render(order)
    idempotency.finish(db, scope=scope, key=key, status_code=201, body=body)
    return StoredResponse(201, body, replayed=False)


def redeem(
    db: Session | Tx, card: Card | SignedInCard, pin: str, *, channel: Channel, client_key: str
) -> NewOrder:
    """Redeem `pin` on `card`; returns the fulfilled top-up order (payment method `voucher`), as written.

    `channel` is where the holder is (API/app: `Channel.VOUCHER`, IVR: `Channel.IVR`); `client_key`
    identifies the caller for the brute-force limit (client IP, or the caller's phone / CallSid).
    Raises `AppError` subclasses; each has `keeps_changes = True` (the attempt is recorded), so the edge
    must commit, not roll back, on them. A PIN that is not 16 digits is a `ValidationFailed` (422) and is
    not counted: it cannot match anything.

    All of it is hand-written SQL in the caller's transaction (a lean `Tx`, or an ORM session's): `pay`,
    then the fulfilment every paid order goes through, from what `pay` wrote (nothing is read back).
    """
    order = pay(db, card, pin, channel=channel, client_key=client_key)
    return fulfil_now(db, order, card)


def pay(
    db: Session | Tx, card: Card | SignedInCard, pin: str, *, channel: Channel, client_key: str
) -> NewOrder:
    """The redemption up to a paid order: limits, PIN, voucher active -> redeemed, its face value from the
    liability to sales, the attempt recorded. Returns the order as written; the caller fulfils it."""
    if card.status not in RECHARGEABLE:
        raise CardNotActive()
    digits = codes.normalise_pin(pin)
    if digits is None:
        raise ValidationFailed("pin", "A recharge PIN has 16 digits.")
    client_key = (client_key or "unknown")[:100]
    tx = as_tx(db)
    if not tx.is_sqlite:  # the count of wrong PINs below is exact only one redemption per card at a time
        tx.run(_LOCK_CARD, key=f"voucher-redeem:card:{card.id}")
    now = clock.now()

    def record(outcome: AttemptOutcome, voucher_id: str | None = None) -> None:
        repository.record_attempt(
            tx,
            card_id=card.id,
            client_key=client_key,
            channel=channel.value,
            outcome=outcome,
            voucher_id=voucher_id,
            at=now,
        )

    # The limits and the PIN's voucher in one read on PostgreSQL; the limits are looked at first.
    of_card, of_client, voucher = repository.limits_and_pin(
        tx, since=now - HOUR, card_id=card.id, client_key=client_key, pin_hash=codes.hash_pin(digits)
    )
    retry_after = _locked_for(of_card, of_client, now)
    if retry_after is not None:
        record(AttemptOutcome.THROTTLED)
        raise VoucherPinLocked(retry_after)

    if voucher is None:
        record(AttemptOutcome.WRONG_PIN)
        _flag_for_review_if_due(tx, card.id, now)
        log.info("voucher.wrong_pin", card_id=card.id, channel=channel.value)
        raise VoucherPinWrong()
    batch = voucher.batch
    _refuse_unusable(tx, card, voucher, now, record)
    face = Money(batch.face_value_amount, batch.face_value_currency)
    order_id = new_order_id()
    # A campaign for recharge cards adds its bonus (the card was paid for at its face value: no discount).
    bonus = reserved_bonuses(
        tx,
        card,
        order_id,
        product_id=batch.product_id,
        product_kind=batch.product_kind,
        price=face,
        channel=PROMOTION_CHANNEL,
        payment_method=PAYMENT_METHOD,
    )
    item = PrepaidItem(
        product_id=batch.product_id,
        product_kind=batch.product_kind,
        name_en=batch.product_name_en,
        name_zh=batch.product_name_zh,
        grants=list(batch.grants),
        validity_days=batch.validity_days,
        price=face,
        list_price=face if bonus is not None else None,
        promotions=bonus.to_record() if bonus is not None else None,
    )
    debit = ledger.operator(tx, books.LIABILITY, face.currency)
    credit = ledger.operator(tx, books.SALES, face.currency)
    reason = f"redeemed on card {card.id} via {channel.value}"
    paid_by = f"voucher {voucher.serial}"
    transfer_key = f"voucher:{voucher.serial}:redeem"
    if not tx.is_sqlite and not (debit.tracks_balance or credit.tracks_balance):
        order, params = paid_order(
            tx, card, item, channel=channel, payment_method=PAYMENT_METHOD, order_id=order_id
        )
        won = repository.redeem_pg(
            tx,
            **params,
            serial=voucher.serial,
            active=VoucherStatus.ACTIVE.value,
            redeemed=VoucherStatus.REDEEMED.value,
            voucher_entity=voucher_machine.entity_type,
            voucher_reason=reason,
            paid_by=paid_by,
            transfer_key=transfer_key,
            debit=debit.id,
            credit=credit.id,
            transfer_reason=TRANSFER_REASON,
            client_key=client_key,
            attempt_channel=channel.value,
            outcome=AttemptOutcome.REDEEMED.value,
        )
        if not won:
            _lost_race(tx, card, voucher, now, record, bonus, order_id)
    else:
        if not voucher_machine.transition(
            tx,
            voucher.serial,
            VoucherStatus.ACTIVE,
            VoucherStatus.REDEEMED,
            reason=reason,
            redeemed_card_id=card.id,
            order_id=order_id,
        ):
            _lost_race(tx, card, voucher, now, record, bonus, order_id)
        order = open_paid_order(
            tx,
            card,
            item,
            channel=channel,
            payment_method=PAYMENT_METHOD,
            paid_by=paid_by,
            order_id=order_id,
        )
        ledger.transfer(
            tx,
            key=transfer_key,
            debit=debit,
            credit=credit,
            amount=face.amount,
            reason=TRANSFER_REASON,
            reference=order_id,
        )
        record(AttemptOutcome.REDEEMED, voucher.serial)
    log.info("voucher.redeemed", card_id=card.id, voucher=voucher.serial, order_id=order_id)
    return order


def _lost_race(
    tx: Tx,
    card: Card | SignedInCard,
    voucher: PinMatch,
    now: datetime,
    record: Callable[..., None],
    bonus: Priced | None,
    order_id: str,
) -> NoReturn:
    """Another redemption of this PIN won the race (it committed first): say what it is now. The refusal
    keeps its changes (the attempt), so the bonus's holds for the order never written are given back."""
    if bonus is not None:
        give_back(tx, bonus.campaign_ids, order_id=order_id)
    _refuse_unusable(tx, card, repository.reread(tx, voucher), now, record)
    raise AssertionError("a voucher that lost a redemption race is still active")


_LOCK_CARD = "SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"


def _retry_after(times: list[datetime], limit: int, window: timedelta, now: datetime) -> int | None:
    """Seconds until one more failure fits in the window, or None if it fits now."""
    if len(times) < limit:
        return None
    frees_at = times[len(times) - limit] + window
    return max(1, math.ceil((frees_at - now).total_seconds()))


def _locked_for(of_card: list[datetime], of_client: list[datetime], now: datetime) -> int | None:
    limit = get_settings().voucher_pin_max_failures_per_hour
    waits = [_retry_after(of_card, limit, HOUR, now), _retry_after(of_client, limit, HOUR, now)]
    blocking = [wait for wait in waits if wait is not None]
    return max(blocking) if blocking else None


def _flag_for_review_if_due(tx: Tx, card_id: int, now: datetime) -> None:
    threshold = get_settings().voucher_pin_review_failures_per_day
    failures = repository.count_wrong_pins(tx, since=now - DAY, card_id=card_id)
    if failures < threshold or repository.has_open_flag(tx, card_id, REVIEW_REASON):
        return
    repository.add_flag(tx, card_id, REVIEW_REASON, f"{failures} wrong recharge PINs within 24 hours", now)
    log.warning("voucher.card_flagged", card_id=card_id, wrong_pins=failures)


def _refuse_unusable(
    tx: Tx,
    card: Card | SignedInCard,
    voucher: PinMatch,
    now: datetime,
    record: Callable[..., None],
) -> None:
    """Raise, with the attempt recorded, unless the voucher can be redeemed on this card right now."""
    status = VoucherStatus(voucher.status)
    batch = voucher.batch
    if status is VoucherStatus.REDEEMED:
        record(AttemptOutcome.ALREADY_REDEEMED, voucher.serial)
        raise VoucherRedeemed(voucher.order_id if voucher.redeemed_card_id == card.id else None)
    if status is VoucherStatus.BLOCKED:
        record(AttemptOutcome.BLOCKED, voucher.serial)
        raise VoucherBlocked()
    if status is VoucherStatus.EXPIRED or batch.expires_at <= now:
        expire_one(tx, voucher.serial, voucher.status, batch, reason="expired (noticed at redemption)")
        record(AttemptOutcome.EXPIRED, voucher.serial)
        raise VoucherExpired()
    if status is VoucherStatus.GENERATED:
        record(AttemptOutcome.NOT_ACTIVATED, voucher.serial)
        raise VoucherNotActivated()
    for grant in batch.grants:
        if grant["asset"] in CURRENCY_ASSETS and grant["asset"] != card.currency:
            record(AttemptOutcome.WRONG_CURRENCY, voucher.serial)
            raise VoucherWrongCurrency(currency=grant["asset"], card_currency=card.currency)
