"""What a dealer's till does: top up a card directly, or sell (activate) a recharge card.

A top-up is priced by the one quote step with the campaigns for the `pos` channel (the same price the
card would see online through that channel); its "face value" is then the charged (discounted) amount,
and the commission is on that charged amount, never on the list price: promotion expense pays `sales`
the discount, as for every channel. A recharge card sold at the till has no campaign (it is priced at its
face value; a campaign with channel `voucher` adds its bonus when the card is redeemed).

Both are paid from the dealer's prepaid float at face value less the dealer's commission, through the one
float mechanism (reseller/floats.py): the net leaves the float (a guarded debit, so the float never goes
below zero even under parallel sales; refused with 402 insufficient_float) and the commission is booked as
an expense, so the other side always receives the full face value:

* top-up: float -> `sales` (net) and `dealer_commission` -> `sales` (commission); then the order is
  fulfilled like any paid order (card credited, SMS queued);
* recharge card: float -> `voucher_liability` (net) and `dealer_commission` -> `voucher_liability`.

The dealer's `external_id` is unique per dealer (`dealer_sales`), and the endpoints run through the
idempotency helper with it, so a retried sale replays the first answer instead of selling twice.
Errors here never keep changes: a refused sale leaves nothing behind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from roamcard.card.states import RECHARGEABLE
from roamcard.dealer import repository
from roamcard.dealer.repository import PosDealer, SaleBatch
from roamcard.dealer.service.manage import COMMISSION
from roamcard.dealer.states import SaleKind
from roamcard.errors import AppError, Conflict, NotFound
from roamcard.kit import clock
from roamcard.kit.money import Money
from roamcard.kit.sql import Tx
from roamcard.ledger import service as ledger
from roamcard.lifecycle import as_tx
from roamcard.models import Dealer, DealerSale, TopupOrder
from roamcard.reseller import floats
from roamcard.reseller import repository as reseller_repository
from roamcard.topup.service.create import CardNotActive, NewOrder
from roamcard.topup.service.prepaid import PrepaidItem, fulfil_now, new_order_id, open_paid_order
from roamcard.topup.service.quote import reserved
from roamcard.topup.states import Channel
from roamcard.voucher.service import books
from roamcard.voucher.states import BatchStatus, VoucherStatus, voucher_machine

PAYMENT_METHOD = "dealer"


class PosCardNotFound(NotFound):
    code = "pos_card_not_found"
    message = "There is no card with this number."


class PosTopupNotFound(NotFound):
    code = "pos_topup_not_found"
    message = "There is no top-up with this external id."


class PosExternalIdUsed(Conflict):
    code = "pos_external_id_used"
    message = "This external id was already used for another sale."


class PosVoucherNotFound(NotFound):
    code = "voucher_not_found"
    message = "There is no recharge card with this serial number."


class PosVoucherNotSellable(Conflict):
    code = "voucher_not_sellable"
    message = "This recharge card cannot be sold."


class PosVoucherAlreadySold(PosVoucherNotSellable):
    code = "voucher_already_active"
    message = "This recharge card is already activated."


class PosVoucherUsed(PosVoucherNotSellable):
    code = "pos_voucher_redeemed"
    message = "This recharge card has already been used."


class PosVoucherBlocked(PosVoucherNotSellable):
    code = "pos_voucher_blocked"
    message = "This recharge card is blocked. Do not sell it."


class PosVoucherExpired(PosVoucherNotSellable):
    code = "pos_voucher_expired"
    message = "This recharge card has expired. Do not sell it."


class PosVoucherWrongCurrency(PosVoucherNotSellable):
    code = "pos_voucher_wrong_currency"
    message = "This recharge card is priced in {currency}; your prepaid balance is in {dealer_currency}."


AnyDealer = Dealer | PosDealer


def _pay_from_float(
    tx: Tx, dealer: AnyDealer, *, key: str, face: Money, credit: ledger.Account, reference: str
) -> tuple[Money, Money]:
    """The one float mechanism (reseller/floats.py); returns (commission, net)."""
    seller = floats.Seller(dealer.float_account_id, dealer.commission_bps, dealer.currency, COMMISSION)
    return floats.pay(
        tx, seller, key=key, face=face, credit=credit, reference=reference, reason="dealer_sale"
    )


_SALE_USED = "SELECT 1 FROM dealer_sales WHERE dealer_id = :dealer_id AND external_id = :external_id"
_RECORD_SALE = (
    "INSERT INTO dealer_sales (dealer_id, external_id, kind, order_id, voucher_id, card_id, face_amount, "
    "commission_amount, net_amount, currency, created_at) VALUES (:dealer_id, :external_id, :kind, "
    ":order_id, :voucher_id, :card_id, :face_amount, :commission_amount, :net_amount, :currency, "
    ":created_at) ON CONFLICT DO NOTHING RETURNING id"
)


def _refuse_used_external_id(tx: Tx, dealer: AnyDealer, external_id: str) -> None:
    if tx.one(_SALE_USED, dealer_id=dealer.id, external_id=external_id) is not None:
        raise PosExternalIdUsed()


def _record_sale(tx: Tx, dealer: AnyDealer, **values: Any) -> DealerSale:
    now = clock.now()
    sale_id = tx.value(_RECORD_SALE, dealer_id=dealer.id, created_at=now, **values)
    if sale_id is None:
        raise PosExternalIdUsed()
    # The row as written, for the answer; never added to a session (it is in the database already).
    return DealerSale(id=sale_id, dealer_id=dealer.id, created_at=now, **values)


def topup(
    db: Session | Tx,
    dealer: AnyDealer,
    *,
    external_id: str,
    card_number: str,
    product_id: str,
    amount: int | None = None,
) -> tuple[DealerSale, NewOrder]:
    """Top up a card at the till, priced in the dealer's currency by the catalogue. Hand-written SQL in
    the caller's transaction; the answer is built from what was written."""
    tx = as_tx(db)
    _refuse_used_external_id(tx, dealer, external_id)
    card = reseller_repository.card_by_number(tx, card_number)
    if card is None:
        raise PosCardNotFound()
    if card.status not in RECHARGEABLE:
        raise CardNotActive()
    order_id = new_order_id()
    # The one quote step, with the campaigns for the POS channel: caps and budget held for this order.
    priced = reserved(
        tx,
        card,
        order_id,
        quote_id=None,
        product_id=product_id,
        currency=dealer.currency,
        amount=amount,
        channel=Channel.POS.value,
        payment_method=PAYMENT_METHOD,
        promo_code=None,
    )
    commission, net = _pay_from_float(
        tx,
        dealer,
        key=f"{order_id}:pos",
        face=priced.price,
        credit=ledger.operator(tx, books.SALES, dealer.currency),
        reference=order_id,
    )
    order = open_paid_order(
        tx,
        card,
        PrepaidItem(
            product_id=priced.product.id,
            product_kind=priced.product.kind,
            name_en=priced.product.name_en,
            name_zh=priced.product.name_zh,
            grants=priced.grants,
            validity_days=priced.product.validity_days,
            price=priced.price,
            list_price=priced.list_price,
            promotions=priced.promotions,
        ),
        channel=Channel.POS,
        payment_method=PAYMENT_METHOD,
        paid_by=f"dealer {dealer.public_id} sale {external_id}",
        order_id=order_id,
    )
    sale = _record_sale(
        tx,
        dealer,
        external_id=external_id,
        kind=SaleKind.TOPUP.value,
        order_id=order_id,
        voucher_id=None,
        card_id=card.id,
        face_amount=priced.price.amount,
        commission_amount=commission.amount,
        net_amount=net.amount,
        currency=dealer.currency,
    )
    return sale, fulfil_now(tx, order, card)


def sell_voucher(
    db: Session | Tx, dealer: AnyDealer, *, external_id: str, serial: str
) -> tuple[DealerSale, SaleBatch]:
    """Activate one recharge card for a sale at the till, paid from the float."""
    tx = as_tx(db)
    _refuse_used_external_id(tx, dealer, external_id)
    found = repository.voucher_for_sale(tx, serial)
    if found is None or found[1].dealer_id not in (None, dealer.id):
        raise PosVoucherNotFound()
    status, batch = found
    _refuse_unsellable(status, batch, dealer)
    if not voucher_machine.transition(
        tx,
        serial,
        VoucherStatus.GENERATED,
        VoucherStatus.ACTIVE,
        reason=f"sold by dealer {dealer.public_id} sale {external_id}"[:200],
        sold_by_dealer_id=dealer.id,
    ):
        fresh = repository.voucher_status(tx, serial)
        assert fresh is not None
        _refuse_unsellable(fresh, batch, dealer)
        raise PosVoucherNotSellable()
    face = Money(batch.face_value_amount, batch.face_value_currency)
    commission, net = _pay_from_float(
        tx,
        dealer,
        key=f"voucher:{serial}:sale",
        face=face,
        credit=ledger.operator(tx, books.LIABILITY, face.currency),
        reference=f"voucher-batch:{batch.id}",
    )
    sale = _record_sale(
        tx,
        dealer,
        external_id=external_id,
        kind=SaleKind.VOUCHER.value,
        order_id=None,
        voucher_id=serial,
        card_id=None,
        face_amount=face.amount,
        commission_amount=commission.amount,
        net_amount=net.amount,
        currency=dealer.currency,
    )
    return sale, batch


def _refuse_unsellable(status_value: str, batch: SaleBatch, dealer: AnyDealer) -> None:
    if batch.status != BatchStatus.READY.value:
        raise PosVoucherNotSellable()
    if batch.face_value_currency != dealer.currency:
        raise PosVoucherWrongCurrency(currency=batch.face_value_currency, dealer_currency=dealer.currency)
    status = VoucherStatus(status_value)
    refusal: dict[VoucherStatus, type[AppError]] = {
        VoucherStatus.ACTIVE: PosVoucherAlreadySold,
        VoucherStatus.REDEEMED: PosVoucherUsed,
        VoucherStatus.BLOCKED: PosVoucherBlocked,
        VoucherStatus.EXPIRED: PosVoucherExpired,
    }
    if status in refusal:
        raise refusal[status]()
    if batch.expires_at <= clock.now():
        raise PosVoucherExpired()


def get_topup(session: Session, dealer: AnyDealer, external_id: str) -> tuple[DealerSale, TopupOrder]:
    sale = repository.get_sale(session, dealer.id, external_id)
    if sale is None or sale.kind != SaleKind.TOPUP.value or sale.order_id is None:
        raise PosTopupNotFound()
    order = session.get(TopupOrder, sale.order_id)
    assert order is not None
    return sale, order
