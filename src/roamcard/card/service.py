"""Issuing cards, suspending and resuming them, and reading their state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

from roamcard.auth import service as auth_service
from roamcard.card import numbers, passwords, repository
from roamcard.card.states import CardStatus, card_machine
from roamcard.config import get_settings
from roamcard.errors import AppError
from roamcard.i18n import LANGUAGES
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger import repository as ledger_repository
from roamcard.ledger import service as ledger
from roamcard.ledger.assets import ALLOWANCE_KIND, Asset
from roamcard.models import Card
from roamcard.network import service as network_service
from roamcard.network.service import LastNetwork


class CardNumberTaken(AppError):
    status_code = 409
    code = "card_number_taken"
    message = "This card number is already issued."


@dataclass(frozen=True)
class IssuedCard:
    card: Card
    password: str


def issue_card(
    session: Session,
    *,
    phone: str,
    password: str | None = None,
    language: str = "zh-CN",
    currency: str | None = None,
    card_number: str | None = None,
) -> IssuedCard:
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {LANGUAGES}")
    phone = numbers.normalise_phone(phone)
    currency = currency or get_settings().wallet_currency
    password = numbers.validate_password(password) if password else numbers.new_password()
    card_number = numbers.normalise_card_number(card_number) if card_number else _unused_card_number(session)
    if repository.get_by_card_number(session, card_number):
        raise CardNumberTaken()
    card = Card(
        card_number=card_number,
        password_hash=passwords.hash_password(password),
        status=CardStatus.ACTIVE.value,
        phone=phone,
        language=language,
        currency=currency,
        created_at=clock.now(),
        # A new card is valid for a first period; each recharge extends it (card/validity.py).
        valid_until=clock.now() + timedelta(days=get_settings().card_initial_validity_days),
    )
    session.add(card)
    session.flush()
    card_machine.record_creation(session, card.id, CardStatus.ACTIVE)
    ledger.wallet_account(session, card.id, currency)
    return IssuedCard(card=card, password=password)


def suspend(session: Session, card: Card, *, reason: str) -> bool:
    """Suspend an active card and end every signed-in session of it at once. False when it was not active.
    Sign-in, settings, top-ups and refunds are refused from now on; emergency help is not."""
    if not card_machine.transition(
        session, card.id, CardStatus.ACTIVE, CardStatus.SUSPENDED, reason=reason[:200]
    ):
        return False
    auth_service.revoke_all_sessions(session, card.id)
    session.refresh(card)
    return True


def resume(session: Session, card: Card, *, reason: str) -> bool:
    """Make a suspended card active again (its holder signs in anew). False when it was not suspended."""
    if not card_machine.transition(
        session, card.id, CardStatus.SUSPENDED, CardStatus.ACTIVE, reason=reason[:200]
    ):
        return False
    session.refresh(card)
    return True


def _unused_card_number(session: Session) -> str:
    while True:
        candidate = numbers.new_card_number()
        if repository.get_by_card_number(session, candidate) is None:
            return candidate


@dataclass(frozen=True)
class AllowanceView:
    kind: str
    asset: str
    remaining: int
    total: int
    expires_at: datetime
    product_id: str | None


@dataclass(frozen=True)
class CardOverview:
    card: Card | auth_service.SignedInCard
    balance: Money
    allowances: list[AllowanceView]
    # The card's own local number, from its eSIM profile (none for a data-only profile or no profile).
    msisdn: str | None = None
    # The last visited network a charging request named (none until the card is first used abroad).
    network: LastNetwork | None = None


def overview(session: Session, card: Card) -> CardOverview:
    wallet = ledger.find_wallet_account(session, card.id, card.currency)
    allowances = [
        AllowanceView(
            kind=ALLOWANCE_KIND[Asset(allowance.asset)],
            asset=allowance.asset,
            remaining=remaining,
            total=allowance.total,
            expires_at=allowance.expires_at,
            product_id=allowance.product_id,
        )
        for allowance, remaining in ledger_repository.list_live_allowances(session, card.id, clock.now())
    ]
    # What may be spent: charging's pending reservations are held (ledger/reservations.py).
    balance = wallet.balance - wallet.pending if wallet is not None else 0
    msisdn = session.execute(text(_CARD_MSISDN), {"card_id": card.id}).scalar()
    return CardOverview(
        card=card,
        balance=Money(balance, card.currency),
        allowances=allowances,
        msisdn=msisdn,
        network=network_service.last_network(session, card.id),
    )


# The signed-in card, its wallet's balance less what reservations hold (`ledger.wallet_code` built in SQL,
# so the unique index on the code finds it) and its live allowances, earliest expiry first: one row per
# allowance, or one row with no allowance. Put together from constants only (hence the S608 waiver).
_CARD_MSISDN = (
    "SELECT msisdn FROM esim_profiles WHERE card_id = :card_id AND status NOT IN ('available', 'retired') "
    "ORDER BY id DESC LIMIT 1"
)
_CARD_VIEW = (
    f"SELECT {auth_service.CARD_COLUMNS}, wallet.balance - wallet.pending, "  # noqa: S608
    "allowances.asset, allowances.total, allowances.expires_at, allowances.product_id, "
    "pack.balance - pack.pending, "
    "esim.msisdn, net.mcc, net.mnc, net.country, net.operator, net.seen_at "
    "FROM card_sessions JOIN cards ON cards.id = card_sessions.card_id "
    "LEFT JOIN card_networks AS net ON net.card_id = cards.id "
    # The card holds at most one profile that is neither in stock nor retired (a reissue retires the old).
    "LEFT JOIN esim_profiles AS esim ON esim.card_id = cards.id "
    "AND esim.status NOT IN ('available', 'retired') "
    "LEFT JOIN ledger_accounts AS wallet "
    "ON wallet.code = 'card:' || cards.id || ':wallet:' || cards.currency "
    "LEFT JOIN allowances ON allowances.card_id = cards.id AND allowances.expires_at > :now "
    "AND allowances.expired_at IS NULL "
    "LEFT JOIN ledger_accounts AS pack ON pack.id = allowances.account_id "
    f"WHERE {auth_service.LIVE_SESSION} ORDER BY allowances.expires_at, allowances.id"
)


def card_view(tx: Tx, token: str) -> CardOverview:
    """GET /api/v1/card on the lean path: `overview` of the token's card (whatever its status), with the
    token check, in one read statement."""
    rows = tx.all(_CARD_VIEW, **auth_service.live_session_params(token))
    if not rows:
        raise auth_service.SessionExpired()
    card = auth_service.card_of(tx, rows[0])
    allowances = []
    for *_, asset, total, expires_at, product_id, remaining, _msisdn, _mcc, _mnc, _c, _op, _at in rows:
        if asset is None:  # the card has no live allowance
            continue
        at = tx.dt(expires_at)
        assert at is not None  # a NOT NULL column
        allowances.append(
            AllowanceView(ALLOWANCE_KIND[Asset(asset)], asset, remaining, total, at, product_id)
        )
    msisdn, mcc, mnc, country, operator, seen_at = rows[0][-6:]
    at = tx.dt(seen_at)
    network = LastNetwork(mcc, mnc, country, operator, at) if mcc is not None and at is not None else None
    return CardOverview(
        card=card,
        balance=Money(rows[0][7] or 0, card.currency),
        allowances=allowances,
        msisdn=msisdn,
        network=network,
    )
