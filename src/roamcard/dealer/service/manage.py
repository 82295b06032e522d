"""Staff actions on dealers: create one (with its float and POS key), credit its float, suspend it."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from roamcard.config import get_settings
from roamcard.dealer import repository
from roamcard.dealer.states import DealerStatus, dealer_machine
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.money import SUPPORTED_CURRENCIES, Money
from roamcard.models import Dealer, LedgerAccount
from roamcard.reseller import floats, signing
from roamcard.reseller import status as seller_status

MAX_COMMISSION_BPS = 5_000  # 50%: anything above is a typing mistake
DEPOSITS = "dealer_deposits"  # where a dealer's payments for float come from (bank transfer, cash)
COMMISSION = "dealer_commission"  # what dealers keep: an expense, so sales show the full face value


class DealerProblem(ValueError):
    """A staff request about a dealer that cannot be done (shown by the CLI as is)."""


@dataclass(frozen=True)
class CreatedDealer:
    dealer: Dealer
    api_secret: str  # shown once; stored only encrypted


def float_account(session: Session, dealer: Dealer) -> LedgerAccount:
    account = session.get(LedgerAccount, dealer.float_account_id, populate_existing=True)
    assert account is not None
    return account


def get_dealer(session: Session, public_id: str) -> Dealer:
    dealer = repository.get_by_public_id(session, public_id)
    if dealer is None:
        raise DealerProblem(f"there is no dealer {public_id!r}")
    return dealer


def create_dealer(
    session: Session, *, name: str, currency: str, commission_bps: int, timezone: str | None = None
) -> CreatedDealer:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise DealerProblem("a dealer name has 1 to 200 characters")
    if currency not in SUPPORTED_CURRENCIES:
        raise DealerProblem(f"--currency must be one of {', '.join(SUPPORTED_CURRENCIES)}")
    if not 0 <= commission_bps <= MAX_COMMISSION_BPS:
        raise DealerProblem(f"--commission-bps must be between 0 and {MAX_COMMISSION_BPS} (500 = 5%)")
    timezone = timezone or get_settings().default_timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise DealerProblem(f"unknown time zone {timezone!r}") from None
    public_id = new_id("dlr")
    account = floats.open_float(session, f"dealer:{public_id}:float:{currency}", currency)
    now = clock.now()
    api_key_id, api_secret = new_id("dk"), signing.new_secret()
    dealer = Dealer(
        public_id=public_id,
        name=name,
        status=DealerStatus.ACTIVE.value,
        currency=currency,
        commission_bps=commission_bps,
        timezone=timezone,
        float_account_id=account.id,
        api_key_id=api_key_id,
        api_secret_encrypted=signing.seal(api_key_id, api_secret),
        created_at=now,
        updated_at=now,
    )
    session.add(dealer)
    session.flush()
    return CreatedDealer(dealer, api_secret)


def credit_float(session: Session, dealer: Dealer, amount: int, *, reference: str | None = None) -> Money:
    """Money received from the dealer goes onto its float. With a `reference` (the bank transfer's), a
    second credit with the same reference is a no-op. Returns the float's new balance."""
    if amount <= 0:
        raise DealerProblem("--amount is a positive amount in minor units (1000 = 10.00)")
    reference = reference or new_id("dcr")
    try:
        return floats.credit(
            session,
            account=float_account(session, dealer),
            source=DEPOSITS,
            key=f"dealer:{dealer.public_id}:credit:{reference}",
            amount=amount,
            reason="dealer_credit",
            reference=reference,
        )
    except floats.CreditReferenceReused as exc:
        raise DealerProblem(
            f"reference {reference} was already credited to {dealer.public_id} with "
            f"{exc.existing} {dealer.currency}; a credit of {amount} under the same reference is refused "
            "(use the bank transfer's own reference for each payment)"
        ) from exc


def set_status(session: Session, dealer: Dealer, status: DealerStatus, *, actor: str) -> bool:
    """Suspend or resume; recorded with who and when, and audited. False when it already had that status."""
    return seller_status.set_status(session, dealer_machine, "dealer", dealer, status, actor=actor)


@dataclass(frozen=True)
class RotatedKey:
    old_key_id: str
    api_key_id: str
    api_secret: str  # shown once; stored only encrypted


def rotate_key(session: Session, dealer: Dealer) -> RotatedKey:
    """A new POS key id and secret; the old pair stops working at once (requests are looked up by key
    id). The secret is returned once, to hand to the dealer's till, and stored only encrypted."""
    old_key_id = dealer.api_key_id
    api_key_id, api_secret = new_id("dk"), signing.new_secret()
    dealer.api_key_id = api_key_id
    dealer.api_secret_encrypted = signing.seal(api_key_id, api_secret)
    dealer.updated_at = clock.now()
    session.flush()
    return RotatedKey(old_key_id, api_key_id, api_secret)
