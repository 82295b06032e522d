"""Staff actions on partners: create one (float, first API key), rotate its key, credit its float,
suspend and resume it, show it. The CLI (`roamcard partners …`) and the back office call these."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from roamcard.audit import service as audit
from roamcard.config import get_settings
from roamcard.kit import clock
from roamcard.kit.ids import new_id
from roamcard.kit.money import SUPPORTED_CURRENCIES, Money
from roamcard.models import LedgerAccount, Partner, PartnerKey, Product
from roamcard.partner import repository
from roamcard.partner.service.callbacks import CallbackUrlRefused, check_callback_url
from roamcard.partner.states import PartnerMode, PartnerStatus, partner_machine
from roamcard.reseller import floats, signing
from roamcard.reseller import status as seller_status

MAX_COMMISSION_BPS = 5_000  # 50%: anything above is a typing mistake
DEFAULT_OVERLAP = timedelta(hours=24)
COMMISSION = "partner_commission"  # what partners keep: an expense, so sales show the full price
DEPOSITS = "partner_deposits"  # where a partner's payments for its float come from
# A sandbox partner owes nothing real: its float, its sales and its commission stay on accounts of their own.
SANDBOX_COMMISSION = "partner_sandbox_commission"
SANDBOX_DEPOSITS = "partner_sandbox_deposits"
SANDBOX_SALES = "partner_sandbox_sales"
SALES = "sales"


class PartnerProblem(ValueError):
    """A staff request about a partner that cannot be done (shown by the CLI as is)."""


@dataclass(frozen=True)
class CreatedKey:
    partner: Partner
    api_key_id: str
    api_secret: str  # shown once; stored only encrypted


def purposes(mode: str) -> tuple[str, str, str]:
    """(sales, commission, deposits) operator purposes of a partner in `mode`."""
    if mode == PartnerMode.SANDBOX.value:
        return SANDBOX_SALES, SANDBOX_COMMISSION, SANDBOX_DEPOSITS
    return SALES, COMMISSION, DEPOSITS


def get_partner(session: Session, public_id: str) -> Partner:
    partner = repository.get_by_public_id(session, public_id)
    if partner is None:
        raise PartnerProblem(f"there is no partner {public_id!r}")
    return partner


def float_account(session: Session, partner: Partner) -> LedgerAccount:
    account = session.get(LedgerAccount, partner.float_account_id, populate_existing=True)
    assert account is not None
    return account


def _check_commission(commission_bps: int) -> None:
    if not 0 <= commission_bps <= MAX_COMMISSION_BPS:
        raise PartnerProblem(f"--commission-bps must be between 0 and {MAX_COMMISSION_BPS} (500 = 5%)")


def _check_credit_limit(credit_limit: int) -> None:
    if credit_limit < 0:
        raise PartnerProblem("--credit-limit is an amount in minor units, 0 or more")


def _check_url(callback_url: str, mode: str) -> None:
    """At creation and on a change: https and no private address in live mode (the literal address or
    `localhost`; a host name is checked again, resolved, before every callback attempt)."""
    try:
        check_callback_url(callback_url, mode, resolve=False)
    except CallbackUrlRefused as exc:
        raise PartnerProblem(f"--callback-url: {exc}") from None


def _cidrs(values: list[str]) -> list[str]:
    try:
        return [str(ipaddress.ip_network(value.strip(), strict=False)) for value in values]
    except ValueError as exc:
        raise PartnerProblem(f"--allow-ip: {exc}") from None


def _products(session: Session, values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    known = set(session.scalars(select(Product.id).where(Product.id.in_(values))))
    unknown = sorted(set(values) - known)
    if unknown:
        raise PartnerProblem(f"--products: no such product {', '.join(unknown)}")
    return sorted(set(values))


def create_partner(
    session: Session,
    *,
    name: str,
    currency: str,
    callback_url: str,
    timezone: str | None = None,
    mode: str = PartnerMode.SANDBOX.value,
    credit_limit: int = 0,
    commission_bps: int = 0,
    allow_ips: list[str] | None = None,
    products: list[str] | None = None,
) -> CreatedKey:
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise PartnerProblem("a partner name has 1 to 200 characters")
    if currency not in SUPPORTED_CURRENCIES:
        raise PartnerProblem(f"--currency must be one of {', '.join(SUPPORTED_CURRENCIES)}")
    if mode not in {m.value for m in PartnerMode}:
        raise PartnerProblem("--mode is sandbox or live")
    _check_commission(commission_bps)
    _check_credit_limit(credit_limit)
    timezone = timezone or get_settings().default_timezone
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PartnerProblem(f"unknown time zone {timezone!r}") from None
    _check_url(callback_url, mode)
    public_id = new_id("ptn")
    account = floats.open_float(
        session, f"partner:{public_id}:float:{currency}", currency, credit_limit=credit_limit
    )
    now = clock.now()
    partner = Partner(
        public_id=public_id,
        name=name,
        status=PartnerStatus.ACTIVE.value,
        mode=mode,
        currency=currency,
        timezone=timezone,
        callback_url=callback_url,
        credit_limit_amount=credit_limit,
        commission_bps=commission_bps,
        allowed_cidrs=_cidrs(allow_ips or []),
        product_ids=_products(session, products),
        float_account_id=account.id,
        created_at=now,
        updated_at=now,
    )
    session.add(partner)
    session.flush()
    partner_machine.record_creation(session, public_id, PartnerStatus.ACTIVE)
    return _new_key(session, partner)


def _new_key(session: Session, partner: Partner) -> CreatedKey:
    api_key_id, api_secret = new_id("pk"), signing.new_secret()
    session.add(
        PartnerKey(
            partner_id=partner.id,
            api_key_id=api_key_id,
            api_secret_encrypted=signing.seal(api_key_id, api_secret),
            created_at=clock.now(),
            expires_at=None,
        )
    )
    session.flush()
    return CreatedKey(partner, api_key_id, api_secret)


def rotate_key(session: Session, partner: Partner, *, overlap: timedelta = DEFAULT_OVERLAP) -> CreatedKey:
    """A new key; the keys in use keep working for `overlap` (never longer than they already would)."""
    if overlap < timedelta(0):
        raise PartnerProblem("--overlap-hours is 0 or more")
    until = clock.now() + overlap
    for key in repository.keys_of(session, partner.id):
        if key.expires_at is None or key.expires_at > until:
            key.expires_at = until
    session.flush()
    return _new_key(session, partner)


def credit_float(session: Session, partner: Partner, amount: int, *, reference: str | None = None) -> Money:
    """Money received from the partner (a bank transfer; in sandbox, play money) goes onto its float. With a
    `reference`, a second credit with the same reference is a no-op. Returns the float's new balance."""
    if amount <= 0:
        raise PartnerProblem("--amount is a positive amount in minor units (1000 = 10.00)")
    reference = reference or new_id("pcr")
    try:
        return floats.credit(
            session,
            account=float_account(session, partner),
            source=purposes(partner.mode)[2],
            key=f"partner:{partner.public_id}:credit:{reference}",
            amount=amount,
            reason="partner_credit",
            reference=reference,
        )
    except floats.CreditReferenceReused as exc:
        raise PartnerProblem(
            f"reference {reference} was already credited to {partner.public_id} with {exc.existing} "
            f"{partner.currency}; a credit of {amount} under the same reference is refused"
        ) from exc


def set_status(session: Session, partner: Partner, status: PartnerStatus, *, actor: str) -> bool:
    """Suspend or resume; recorded with who and when, and audited. False when it already had that status."""
    return seller_status.set_status(session, partner_machine, "partner", partner, status, actor=actor)


def update_partner(
    session: Session,
    partner: Partner,
    *,
    actor: audit.Actor,
    callback_url: str | None = None,
    credit_limit: int | None = None,
    allow_ips: list[str] | None = None,
    commission_bps: int | None = None,
    reason: str | None = None,
) -> dict[str, tuple[Any, Any]]:
    """Change what was set at creation, validated as at creation (live: https, no private address);
    audited (`partner.updated`, with the values before and after) in the caller's transaction. A new
    credit limit moves the float's lower bound, refused when the partner already owes more than the new
    limit (credit its float first). `allow_ips=[]` clears the allow-list. Returns {field: (before, after)}
    of what changed (nothing changed: nothing audited)."""
    before = partner.describe()
    if callback_url is not None:
        _check_url(callback_url, partner.mode)
        partner.callback_url = callback_url
    if commission_bps is not None:
        _check_commission(commission_bps)
        partner.commission_bps = commission_bps
    if allow_ips is not None:
        partner.allowed_cidrs = _cidrs(allow_ips)
    if credit_limit is not None:
        _check_credit_limit(credit_limit)
        if credit_limit != partner.credit_limit_amount:
            moved = session.execute(  # conditional: a parallel sale cannot slip below the new bound
                update(LedgerAccount)
                .where(LedgerAccount.id == partner.float_account_id, LedgerAccount.balance >= -credit_limit)
                .values(lower_bound=-credit_limit)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                balance = float_account(session, partner).balance
                raise PartnerProblem(
                    f"--credit-limit {credit_limit}: the float is at {balance} {partner.currency}, below "
                    f"-{credit_limit}; credit the float first"
                )
        partner.credit_limit_amount = credit_limit
    after = partner.describe()
    changes = {
        name: (before[name], after[name])
        for name in ("callback_url", "credit_limit", "allowed_cidrs", "commission_bps")
        if before[name] != after[name]
    }
    if not changes:
        return {}
    partner.updated_at = clock.now()
    session.flush()
    audit.record(
        session,
        actor,
        "partner.updated",
        target_type="partner",
        target_id=partner.public_id,
        before={name: old for name, (old, _) in changes.items()},
        after={name: new for name, (_, new) in changes.items()},
        reason=reason,
    )
    return changes


def describe(session: Session, partner: Partner) -> dict[str, Any]:
    """What `partners show` prints: never a secret."""
    now = clock.now()
    return {
        **partner.describe(),
        "float_balance": float_account(session, partner).balance,
        "keys": [
            {
                "api_key_id": key.api_key_id,
                "created_at": key.created_at.isoformat(),
                "expires_at": key.expires_at.isoformat() if key.expires_at else None,
                "active": key.expires_at is None or key.expires_at > now,
            }
            for key in repository.keys_of(session, partner.id)
        ],
    }


CALLS_KEPT = timedelta(days=30)


def purge_old_calls(session: Session, *, limit: int = 1000) -> int:
    """Sweeper: forget up to `limit` recorded partner calls older than CALLS_KEPT."""
    return repository.purge_calls_before(session, clock.now() - CALLS_KEPT, limit)
