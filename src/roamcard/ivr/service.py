"""The hotline's menu tree, one step per webhook. No business rules of its own: sign-in is the website's
(`auth.service.login`, same lock-outs), balances are `card.service.overview`, a PIN recharge is
`voucher.service.redeem`, a payment link is an ordinary top-up.

The call's state lives in `ivr_calls`, keyed by CallSid, so any server process can take the next step.
Each entry has MAX_TRIES tries (a wrong or silent answer uses one), then a polite goodbye. Digits typed
for the service password or a PIN are passed on and forgotten: never stored, never logged.

The caller's number (`From`) is chosen by the caller, so it is no identity: wrong passwords are limited
per card number (as on the website) and per call (the call is the client key, and MAX_TRIES sign-ins end
it). A typed password is checked before the step's write transaction opens (`answer`), so argon2 never
runs while the call row and SQLite's writer lock are held.

SOS (8): at the menu once signed in; or at the password step, with no password, when the call comes from
the phone bound to the card number just typed (the caller may be in trouble). Caller ID can be forged, so
this path only ever sends the SOS to the card's own contacts (at most 3 an hour) and signs nothing in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import structlog
from sqlalchemy.orm import Session

from roamcard.auth import service as auth_service
from roamcard.card import numbers
from roamcard.card import repository as card_repository
from roamcard.card import service as card_service
from roamcard.card.states import RECHARGEABLE, CardStatus
from roamcard.config import get_settings
from roamcard.db import Database, attempt, insert_ignoring_conflict
from roamcard.emergency import service as emergency_service
from roamcard.errors import AppError, TooManyRequests, ValidationFailed
from roamcard.i18n import gettext
from roamcard.ivr import prompts, repository, speech
from roamcard.ivr.payment_link import (
    PaymentLinkUnavailable,
    phone_price,
    phone_products,
    product_name,
    send_payment_link,
)
from roamcard.ivr.states import (
    BACK,
    EMERGENCY_NUMBERS,
    HEAR_BALANCE,
    MAX_TRIES,
    PAYMENT_LINK_BY_SMS,
    RECHARGE_WITH_PIN,
    REPEAT,
    SOS,
    SPEAK_TO_AGENT,
    Outcome,
    Step,
)
from roamcard.ivr.twiml import Reply
from roamcard.kit import clock
from roamcard.models import Card, IvrCall
from roamcard.network import emergency as emergency_numbers
from roamcard.network import service as network_service
from roamcard.topup.service.create import CardNotActive
from roamcard.topup.states import Channel

log = structlog.get_logger("roamcard.ivr")

# Digits typed at the language menu.
LANGUAGE_KEYS = {"1": "zh-CN", "2": "en"}
BOTH = ("zh-CN", "en")
MAX_PRODUCTS = 8

T = TypeVar("T")


@dataclass(frozen=True)
class Turn:
    """One webhook: which call, who is calling, the step its URL names, what was typed (None: nothing)."""

    call_sid: str
    caller: str
    step: Step | None
    digits: str | None


def _guarded(session: Session, action: Callable[[], T]) -> T:
    with attempt(session):
        return action()


# -- entry points ----------------------------------------------------------------------------------
def start(session: Session, *, call_sid: str, caller: str) -> Reply:
    """POST /ivr/voice: a new call (or Twilio retrying the first request: the same call goes on)."""
    now = clock.now()
    insert_ignoring_conflict(
        session,
        IvrCall,
        {
            "call_sid": call_sid,
            "caller": caller[:32],
            "step": Step.LANGUAGE.value,
            "tries": 0,
            "sign_in_failures": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    call = repository.get_for_update(session, call_sid)
    assert call is not None
    log.info("ivr.call_started", call_sid=call_sid)
    return _prompt(session, call, Reply(call.language))


@dataclass(frozen=True)
class SignInCheck:
    """A typed service password, checked before the step's transaction: the card, or the refusal."""

    card_number: str
    card: auth_service.SignedInCard | None
    error: AppError | None


def answer(database: Database, turn: Turn) -> Reply:
    """POST /ivr/step/{step}: the caller typed something (or nothing) at `turn.step`. The request's whole
    use case (it commits): a password is checked first with no transaction open, then one short write
    transaction moves the call on."""
    checked = _check_password(database, turn)
    with database.transaction() as session:
        return _answer(session, turn, checked)


def _check_password(database: Database, turn: Turn) -> SignInCheck | None:
    digits = (turn.digits or "").strip()
    if turn.step is not Step.PASSWORD or not digits or digits == SOS:  # 8 is never a password (6 to 12)
        return None
    with database.reading() as session:
        call = repository.get(session, turn.call_sid)
        card_number = call.card_number if call is not None and call.step == Step.PASSWORD.value else None
    if card_number is None:
        return None
    try:
        card = auth_service.check_password(
            database, card_number=card_number, password=digits, client_key=f"ivr-call:{turn.call_sid}"
        )
    except AppError as error:
        return SignInCheck(card_number=card_number, card=None, error=error)
    return SignInCheck(card_number=card_number, card=card, error=None)


def _answer(session: Session, turn: Turn, checked: SignInCheck | None) -> Reply:
    call = repository.get_for_update(session, turn.call_sid)
    if call is None:
        return start(session, call_sid=turn.call_sid, caller=turn.caller)
    reply = Reply(call.language)
    if call.step == Step.ENDED:
        return reply.hangup()
    if turn.step is None or turn.step.value != call.step:
        # A stale or repeated webhook: ask again where the call really is, without using a try.
        return _prompt(session, call, reply)
    call.updated_at = clock.now()
    digits = (turn.digits or "").strip()
    if not digits:
        return _retry(session, call, reply, prompts.NO_INPUT)
    if call.step == Step.PASSWORD.value and digits == SOS:
        result = _sos_from_bound_phone(session, call, reply)
    elif call.step == Step.PASSWORD.value:
        if checked is None or checked.card_number != call.card_number:
            return _prompt(session, call, reply)  # the call moved on while the password was checked
        result = _password(session, call, reply, checked)
    else:
        result = HANDLERS[Step(call.step)](session, call, reply, digits)
    session.flush()
    log.info("ivr.step", call_sid=call.call_sid, step=turn.step.value, next_step=call.step)
    return result


def hang_up(session: Session, call_sid: str) -> None:
    """Twilio's status callback: the call is over, whatever step it was at."""
    call = repository.get_for_update(session, call_sid)
    if call is not None and call.ended_at is None:
        call.ended_at = clock.now()
        if call.step != Step.ENDED:
            call.step = Step.ENDED.value
            call.outcome = Outcome.HUNG_UP.value


# -- moving between steps --------------------------------------------------------------------------
def _go(session: Session, call: IvrCall, step: Step, reply: Reply) -> Reply:
    call.step = step.value
    call.tries = 0
    return _prompt(session, call, reply)


def _end(call: IvrCall, reply: Reply, outcome: Outcome, message: str | None = None) -> Reply:
    call.step = Step.ENDED.value
    call.outcome = outcome.value
    call.ended_at = clock.now()
    if message is not None:
        if call.language is None:
            for language in BOTH:
                reply.say(message, language=language)
        else:
            reply.say(message)
    return reply.hangup()


def _retry(session: Session, call: IvrCall, reply: Reply, message: str) -> Reply:
    """A wrong or silent answer uses a try; after the last one, a polite goodbye."""
    call.tries += 1
    if call.tries >= MAX_TRIES:
        return _end(call, reply, Outcome.GAVE_UP, prompts.GAVE_UP)
    if call.language is None:
        for language in BOTH:
            reply.say(message, language=language)
    else:
        reply.say(message)
    return _prompt(session, call, reply)


def _prompt(session: Session, call: IvrCall, reply: Reply) -> Reply:
    """What the current step asks."""
    step = Step(call.step)
    if step is Step.LANGUAGE:
        return reply.gather(
            step, [(prompts.WELCOME_CHINESE, {}), (prompts.WELCOME_ENGLISH, {})], entry=False, languages=BOTH
        )
    if step is Step.CARD_NUMBER:
        return reply.gather(step, [(prompts.ENTER_CARD_NUMBER, {})], entry=True)
    if step is Step.PASSWORD:
        asked: list[tuple[str, dict[str, object]]] = [(prompts.ENTER_PASSWORD, {})]
        if _bound_card(session, call) is not None:
            asked.append((prompts.SOS_WITHOUT_PASSWORD, {}))
        return reply.gather(step, asked, entry=True)
    if step is Step.MENU:
        return reply.gather(step, [(prompts.MENU, {})], entry=False)
    if step is Step.EMERGENCY:
        return reply.gather(step, [(prompts.EMERGENCY_MENU, {})], entry=False)
    if step is Step.PIN:
        return reply.gather(step, [(prompts.ENTER_PIN, {})], entry=True)
    if step is Step.PRODUCT:
        card = _card(session, call)
        language = reply.language
        options: list[tuple[str, dict[str, object]]] = [(prompts.CHOOSE_PRODUCT, {})]
        for key, product in enumerate(phone_products(session, card)[:MAX_PRODUCTS], start=1):
            # The price the link's order will be charged, promotions applied (the same quote step).
            priced = phone_price(session, card, product)
            said = {"product": product_name(product, language), "price": speech.money(priced.price, language)}
            listed = priced.list_price
            if listed is not None and listed.amount > priced.price.amount:
                said["list_price"] = speech.money(listed, language)
                options.append((prompts.PRODUCT_OPTION_OFFER, {**said, "key": key}))
            else:
                options.append((prompts.PRODUCT_OPTION, {**said, "key": key}))
        options.append((prompts.BACK_TO_MENU, {}))
        return reply.gather(step, options, entry=False)
    return reply.hangup()


def _card(session: Session, call: IvrCall) -> Card:
    card = session.get(Card, call.card_id) if call.card_id is not None else None
    assert card is not None, "a step after sign-in without a signed-in card"
    return card


def _spoken(error: AppError, language: str) -> str:
    """An error's words for the caller; a field error says what is wrong with what was typed."""
    if isinstance(error, ValidationFailed):
        return gettext(error.field_message, language, **error.field_params)
    return error.detail(language)


# -- steps -----------------------------------------------------------------------------------------
def _language(session: Session, call: IvrCall, reply: Reply, digits: str) -> Reply:
    language = LANGUAGE_KEYS.get(digits)
    if language is None:
        return _retry(session, call, reply, prompts.NOT_AN_OPTION)
    call.language = language
    reply.language = language
    return _go(session, call, Step.CARD_NUMBER, reply)


def _card_number(session: Session, call: IvrCall, reply: Reply, digits: str) -> Reply:
    try:
        call.card_number = numbers.normalise_card_number(digits)
    except numbers.InvalidCardNumber:
        return _retry(session, call, reply, prompts.CARD_NUMBER_INVALID)
    return _go(session, call, Step.PASSWORD, reply)


def _password(session: Session, call: IvrCall, reply: Reply, checked: SignInCheck) -> Reply:
    error = checked.error
    if isinstance(error, TooManyRequests):  # the card (or this call) is locked out, as on the website
        reply.say_text(error.detail(reply.language))
        return _end(call, reply, Outcome.LOCKED, prompts.GOODBYE)
    if isinstance(error, auth_service.CardSuspended):
        # The right password on a card that is not active: say so, then the emergency options only (SOS,
        # the local emergency numbers, an agent), which a card's status never takes away.
        reply.say_text(error.detail(reply.language))
        card = card_repository.get_by_card_number(session, call.card_number) if call.card_number else None
        if card is None:
            return _to_agent(call, reply)
        call.card_id = card.id
        call.sign_in_failures = 0
        log.info("ivr.signed_in_for_emergency", call_sid=call.call_sid, card_id=card.id, status=card.status)
        return _go(session, call, Step.EMERGENCY, reply)
    if error is not None or checked.card is None:
        call.sign_in_failures += 1
        if error is not None:
            reply.say_text(error.detail(reply.language))
        if call.sign_in_failures >= MAX_TRIES:
            return _end(call, reply, Outcome.GAVE_UP, prompts.GAVE_UP)
        call.card_number = None
        reply.say(prompts.SIGN_IN_AGAIN)
        return _go(session, call, Step.CARD_NUMBER, reply)
    # The call is the session: no API token is issued.
    auth_service.signed_in(session, checked.card)
    call.card_id = checked.card.id
    call.sign_in_failures = 0
    log.info("ivr.signed_in", call_sid=call.call_sid, card_id=checked.card.id)
    return _go(session, call, Step.MENU, reply)


def _to_agent(call: IvrCall, reply: Reply) -> Reply:
    agent = get_settings().agent_phone
    if not agent:
        return _end(call, reply, Outcome.GOODBYE, prompts.NO_AGENT)
    reply.say(prompts.TRANSFERRING)
    reply.dial(agent)
    call.step = Step.ENDED.value
    call.outcome = Outcome.TRANSFERRED.value
    return reply


def _menu(session: Session, call: IvrCall, reply: Reply, digits: str) -> Reply:
    card = _card(session, call)
    if digits == HEAR_BALANCE:
        _say_overview(session, card, reply)
        return _go(session, call, Step.MENU, reply)
    if digits == RECHARGE_WITH_PIN:
        if card.status not in RECHARGEABLE:
            reply.say(prompts.CARD_SUSPENDED)
            return _go(session, call, Step.MENU, reply)
        return _go(session, call, Step.PIN, reply)
    if digits == PAYMENT_LINK_BY_SMS:
        if card.status != CardStatus.ACTIVE:
            reply.say(prompts.CARD_SUSPENDED)
            return _go(session, call, Step.MENU, reply)
        if not phone_products(session, card):
            reply.say(prompts.NO_PRODUCTS)
            return _go(session, call, Step.MENU, reply)
        return _go(session, call, Step.PRODUCT, reply)
    if digits == SPEAK_TO_AGENT:
        if not get_settings().agent_phone:
            reply.say(prompts.NO_AGENT)
            return _go(session, call, Step.MENU, reply)
        return _to_agent(call, reply)
    if digits == SOS:
        _send_sos(session, card, reply)
        return _go(session, call, Step.MENU, reply)
    if digits == REPEAT:
        return _go(session, call, Step.MENU, reply)
    return _retry(session, call, reply, prompts.NOT_AN_OPTION)


def _emergency(session: Session, call: IvrCall, reply: Reply, digits: str) -> Reply:
    """The menu of a signed-in card that is not active: SOS, the local emergency numbers, an agent."""
    card = _card(session, call)
    if digits == SOS:
        _send_sos(session, card, reply)
        return _go(session, call, Step.EMERGENCY, reply)
    if digits == EMERGENCY_NUMBERS:
        network = network_service.last_network(session, card.id)
        numbers = emergency_numbers.numbers_for(network.country if network else None)
        spoken = ", ".join(speech.digits(entry.number) for entry in numbers)
        reply.say(prompts.EMERGENCY_NUMBERS, numbers=spoken)
        return _go(session, call, Step.EMERGENCY, reply)
    if digits == SPEAK_TO_AGENT:
        if not get_settings().agent_phone:
            reply.say(prompts.NO_AGENT)
            return _go(session, call, Step.EMERGENCY, reply)
        return _to_agent(call, reply)
    if digits == REPEAT:
        return _go(session, call, Step.EMERGENCY, reply)
    return _retry(session, call, reply, prompts.NOT_AN_OPTION)


def _bound_card(session: Session, call: IvrCall) -> Card | None:
    """The card whose number was typed, when this call comes from its bound phone."""
    if call.card_number is None:
        return None
    card = card_repository.get_by_card_number(session, call.card_number)
    if card is None or card.phone != call.caller.strip():
        return None
    return card


def _sos_from_bound_phone(session: Session, call: IvrCall, reply: Reply) -> Reply:
    card = _bound_card(session, call)
    if card is None:  # another phone (or no such card: the same answer, so card numbers cannot be probed)
        reply.say(prompts.SOS_NEEDS_SIGN_IN)
        call.tries += 1
        if call.tries >= MAX_TRIES:
            return _end(call, reply, Outcome.GAVE_UP, prompts.GAVE_UP)
        return _prompt(session, call, reply)
    log.info("ivr.sos_without_password", call_sid=call.call_sid, card_id=card.id)
    _send_sos(session, card, reply)
    return _end(call, reply, Outcome.SOS, prompts.GOODBYE)


def _send_sos(session: Session, card: Card, reply: Reply) -> None:
    """Raise the SOS (whatever the card's status) and tell the caller what happened and whom to call."""
    try:
        alert = _guarded(session, lambda: emergency_service.raise_sos(session, card, channel="ivr"))
    except emergency_service.NoEmergencyContacts:
        network = network_service.last_network(session, card.id)
        number = emergency_numbers.local_number(network.country if network else None)
        reply.say(prompts.SOS_NO_CONTACTS, number=speech.digits(number))
        return
    except TooManyRequests as error:
        reply.say_text(error.detail(reply.language))
        return
    reply.say(prompts.SOS_SENT, number=speech.digits(alert.emergency_number))


def _say_overview(session: Session, card: Card, reply: Reply) -> None:
    view = card_service.overview(session, card)
    language = reply.language
    reply.say(prompts.BALANCE, balance=speech.money(view.balance, language))
    if not view.allowances:
        reply.say(prompts.NO_PACKS)
    for allowance in view.allowances:
        reply.say(
            prompts.PACK,
            amount=speech.amount(allowance.asset, allowance.remaining, language),
            date=speech.date(allowance.expires_at, language),
        )


def _pin(session: Session, call: IvrCall, reply: Reply, digits: str) -> Reply:
    card = _card(session, call)
    from roamcard.voucher import service as voucher_service

    try:
        _guarded(
            session,
            lambda: voucher_service.redeem(
                session, card, digits, channel=Channel.IVR, client_key=f"ivr-call:{call.call_sid}"
            ),
        )
    except TooManyRequests as error:
        reply.say_text(error.detail(reply.language))
        return _go(session, call, Step.MENU, reply)
    except AppError as error:
        call.tries += 1
        reply.say_text(_spoken(error, reply.language))
        if call.tries >= MAX_TRIES:
            return _end(call, reply, Outcome.GAVE_UP, prompts.GAVE_UP)
        return _prompt(session, call, reply)
    view = card_service.overview(session, card)
    reply.say(prompts.RECHARGED, balance=speech.money(view.balance, reply.language))
    return _go(session, call, Step.MENU, reply)


def _product(session: Session, call: IvrCall, reply: Reply, digits: str) -> Reply:
    card = _card(session, call)
    if digits == BACK:
        return _go(session, call, Step.MENU, reply)
    products = phone_products(session, card)[:MAX_PRODUCTS]
    index = int(digits) - 1 if digits.isdigit() else -1
    if not 0 <= index < len(products):
        return _retry(session, call, reply, prompts.NOT_AN_OPTION)
    try:
        _guarded(session, lambda: send_payment_link(session, card, products[index].id, channel=Channel.IVR))
    except CardNotActive:
        reply.say(prompts.CARD_SUSPENDED)
        return _go(session, call, Step.MENU, reply)
    except (PaymentLinkUnavailable, AppError):
        reply.say(prompts.LINK_FAILED)
        return _go(session, call, Step.MENU, reply)
    reply.say(
        prompts.LINK_SENT,
        phone_tail=card.phone[-4:],
        minutes=get_settings().payment_window_seconds // 60,
    )
    return _go(session, call, Step.MENU, reply)


Handler = Callable[[Session, IvrCall, Reply, str], Reply]
HANDLERS: dict[Step, Handler] = {
    Step.LANGUAGE: _language,
    Step.CARD_NUMBER: _card_number,
    Step.MENU: _menu,
    Step.EMERGENCY: _emergency,
    Step.PIN: _pin,
    Step.PRODUCT: _product,
}
