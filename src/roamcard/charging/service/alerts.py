"""Usage alerts: an SMS in the card's language with a recharge link, once per pack and threshold.

- 80 % and 100 % of a pack used, checked where charging posts a pack's usage (`grants.settle`);
- the balance falling below the currency's threshold (settings `alert_low_balance`), checked where charging
  posts a charge to the balance; once per crossing: a recharge that lifts the balance above the threshold
  re-arms it;
- 3 days and 1 day before a pack with something left expires, by a sweeper (`remind_expiring_packs`).

On the charging path the check is one cheap statement (the account's balance, which this transaction has
just moved) and compares the balance before and after this posting: only the posting that crosses a
threshold goes on to read the card and queue the SMS. Postings of one account are serialised by the row
lock of their ledger UPDATE, so exactly one posting crosses each threshold; the SMS key
(`{card}:pack:{allowance}:80`, `...:100`, `{card}:balance:{currency}:low:{reservation}`,
`{card}:pack:{allowance}:expiry:3d`) is unique in the outbox as well, so a retry never sends twice. A
posting that jumps over both pack thresholds sends the 100 % one only. Each optional alert obeys the card
holder's switch (`cards.alert_*`, card/settings.py): switched off, nothing is queued.

The dashboard banner (`banners`) is computed from the same state each time the page is shown, so it stays
until the situation changes (a recharge, a new pack, the pack expiring) and needs no storage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from roamcard.charging import repository
from roamcard.config import get_settings
from roamcard.i18n import gettext, lazy
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.notification import service as notification_service

PACK_THRESHOLDS = (100, 80)  # highest first: a posting that crosses both sends the higher one
EXPIRY_REMINDERS = ((1, "1d"), (3, "3d"))  # days before expiry, key suffix; nearest first
PACK_KINDS = {
    "DATA_BYTES": lazy("data pack"),
    "VOICE_SECONDS": lazy("calls pack"),
    "SMS": lazy("SMS pack"),
}
SWEEP_LIMIT = 500


def recharge_url() -> str:
    return f"{get_settings().public_base_url}/recharge"


def low_balance_threshold(currency: str) -> int | None:
    return get_settings().alert_low_balance.get(currency)


def pack_threshold(total: int, percent: int) -> int:
    """The units used at which `percent` of a pack of `total` is reached (rounded up)."""
    return -(-total * percent // 100)


def crossed_pack_threshold(total: int, used_before: int, used_after: int) -> int | None:
    for percent in PACK_THRESHOLDS:
        mark = pack_threshold(total, percent)
        if used_before < mark <= used_after:
            return percent
    return None


def _pack_label(asset: str, product_zh: str | None, product_en: str | None, language: str) -> str:
    name = product_zh if language == "zh-CN" else product_en
    return name or gettext(PACK_KINDS.get(asset, lazy("pack")), language)


def _recipient(tx: Tx, card_id: int, switch: str) -> notification_service.CardRecipient | None:
    """The card's SMS recipient, or None when its holder switched this alert off (or it has no phone)."""
    row = tx.one(repository.ALERT_RECIPIENT[switch], card_id=card_id)
    if row is None or not row[3] or not row[1]:
        return None
    return notification_service.CardRecipient(int(row[0]), row[1], row[2])


def pack_used(tx: Tx, card_id: int, allowance_id: int, posted: int) -> bool:
    """After `posted` units of pack `allowance_id` were posted in this transaction: queue the 80 % or 100 %
    alert when this posting crossed it. True when an SMS was queued."""
    if posted <= 0:
        return False
    row = tx.one(repository.PACK_USE, id=allowance_id)
    if row is None:
        return False
    total, balance = int(row[0]), int(row[1])
    used_after = total - balance
    percent = crossed_pack_threshold(total, used_after - posted, used_after)
    if percent is None:
        return False
    recipient = _recipient(tx, card_id, "pack_usage")
    if recipient is None:
        return False
    pack = tx.one(repository.PACK_NAME, id=allowance_id)
    asset, zh, en = (pack[0], pack[1], pack[2]) if pack is not None else ("", None, None)
    return notification_service.queue_sms(
        tx,
        recipient,
        f"pack_used_{percent}",
        key=f"{card_id}:pack:{allowance_id}:{percent}",
        pack=_pack_label(asset, zh, en, recipient.language),
        url=recharge_url(),
    )


def balance_charged(tx: Tx, card_id: int, currency: str, charged: int, reservation_id: int) -> bool:
    """After `charged` minor units of the card's balance were posted for reservation `reservation_id` in
    this transaction: queue the low-balance alert when this posting took the balance below the threshold."""
    threshold = low_balance_threshold(currency) if charged > 0 else None
    if threshold is None:
        return False
    after = int(tx.value(repository.RESERVED_ACCOUNT_BALANCE, id=reservation_id) or 0)
    if not after < threshold <= after + charged:
        return False
    recipient = _recipient(tx, card_id, "low_balance")
    if recipient is None:
        return False
    return notification_service.queue_sms(
        tx,
        recipient,
        "low_balance",
        key=f"{card_id}:balance:{currency}:low:{reservation_id}",
        balance=Money(after, currency),
        url=recharge_url(),
    )


def remind_expiring_packs(tx: Tx, *, limit: int = SWEEP_LIMIT) -> int:
    """The sweeper: for each live pack with something left that expires within 3 days (or 1 day), of an
    active card whose holder wants these reminders, queue the reminder not queued yet. Returns how many."""
    now = clock.now()
    sent = 0
    lower = now
    for days, suffix in EXPIRY_REMINDERS:
        upper = now + timedelta(days=days)
        for card_id, allowance_id, asset, expires_at, zh, en, phone, language in tx.all(
            repository.EXPIRING_PACKS, now=now, lower=lower, upper=upper, suffix=suffix, limit=limit
        ):
            recipient = notification_service.CardRecipient(int(card_id), phone, language)
            moment = tx.dt(expires_at)
            assert moment is not None
            if notification_service.queue_sms(
                tx,
                recipient,
                "pack_expiring",
                key=f"{card_id}:pack:{allowance_id}:expiry:{suffix}",
                pack=_pack_label(asset, zh, en, language),
                date=moment.strftime("%Y-%m-%d %H:%M"),
                url=recharge_url(),
            ):
                sent += 1
        lower = upper  # a pack within 1 day gets the 1-day reminder only
    return sent


# -- the dashboard banner ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackState:
    asset: str
    remaining: int
    total: int
    expires_at: datetime
    product_id: str | None


@dataclass(frozen=True)
class Banner:
    kind: str  # "pack_used_100", "pack_used_80", "pack_expiring", "low_balance"
    text: str


def banners(
    packs: list[tuple[PackState, str]],
    balance: Money,
    language: str,
    when: Callable[[datetime], str],
    *,
    now: datetime | None = None,
) -> list[Banner]:
    """What the dashboard warns about now: packs used up or at 80 %, packs with something left expiring
    within 3 days, a balance below the threshold. `packs` are the live packs with their
    display names; `when` formats a moment for the reader."""
    moment = now or clock.now()
    found: list[Banner] = []
    soon = moment + timedelta(days=max(days for days, _ in EXPIRY_REMINDERS))
    for pack, name in packs:
        used = pack.total - pack.remaining
        if pack.total > 0 and used >= pack.total:
            found.append(
                Banner("pack_used_100", gettext(lazy("Your {pack} is used up."), language, pack=name))
            )
        elif pack.total > 0 and used >= pack_threshold(pack.total, 80):
            found.append(
                Banner(
                    "pack_used_80", gettext(lazy("You have used 80% of your {pack}."), language, pack=name)
                )
            )
        if pack.remaining > 0 and pack.expires_at <= soon:
            found.append(
                Banner(
                    "pack_expiring",
                    gettext(
                        lazy("Your {pack} expires on {date}."),
                        language,
                        pack=name,
                        date=when(pack.expires_at),
                    ),
                )
            )
    threshold = low_balance_threshold(balance.currency)
    if threshold is not None and balance.amount < threshold:
        found.append(
            Banner(
                "low_balance",
                gettext(lazy("Your balance is low: {balance}."), language, balance=balance.format(language)),
            )
        )
    return found


__all__ = [
    "Banner",
    "PackState",
    "balance_charged",
    "banners",
    "pack_used",
    "remind_expiring_packs",
]
