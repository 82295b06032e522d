"""SMS templates. Each is an English msgid, translated through the zh-CN catalogue."""

from __future__ import annotations

from roamcard.i18n import lazy

TEMPLATES: dict[str, str] = {
    "topup_fulfilled": lazy(
        "[Roamcard] Your recharge {order_id} is complete: {product}. Balance: {balance}. "
        "Emergency numbers are always free."
    ),
    "phone_change_code": lazy(
        "[Roamcard] Your verification code is {code}. It binds this number to card {card_tail} "
        "and expires in {minutes} minutes. Never share it."
    ),
    "phone_changed": lazy(
        "[Roamcard] The phone number bound to card {card_tail} was changed to {phone}. "
        "If this was not you, call customer service."
    ),
    "password_changed": lazy(
        "[Roamcard] The service password of card {card_tail} was changed. "
        "If this was not you, call customer service."
    ),
    # The phone channel (IVR hotline and agent console).
    "payment_link": lazy(
        "[Roamcard] Recharge card {card_tail} with {product} for {price}: pay at {url} "
        "(valid {minutes} minutes)."
    ),
    "password_reset": lazy(
        "[Roamcard] Customer service reset the service password of card {card_tail}. "
        "New password: {password}. Never share it."
    ),
    "receipt": lazy("[Roamcard] Receipt for recharge {order_id}: {product}, paid {price}. Completed."),
    # Self-service password reset (portal "Forgot password" and POST /api/v1/password-resets).
    "password_reset_code": lazy(
        "[Roamcard] Your code to reset the service password of card {card_tail} is {code}. "
        "It expires in {minutes} minutes. Never share it."
    ),
    "password_reset_done": lazy(
        "[Roamcard] The service password of card {card_tail} was reset with a code sent to this phone. "
        "If this was not you, call customer service."
    ),
    # A new card bought online (card_order): its number and install link; the password comes separately.
    "card_ready": lazy("[Roamcard] Your travel card {card_number} is ready. Install the eSIM: {url}"),
    "card_ready_msisdn": lazy(
        "[Roamcard] Your travel card {card_number} is ready; its own phone number is {msisdn}. "
        "Install the eSIM: {url}"
    ),
    # The eSIM's confirmation code (profiles that need one): an SMS of its own, never in the QR.
    "esim_confirmation_code": lazy(
        "[Roamcard] eSIM confirmation code for card {card_tail}: {code}. Enter it only when your phone asks."
    ),
    # A supervisor reissued the card's eSIM: the card number stays, the install page has the new QR.
    "esim_reissued": lazy("[Roamcard] A new eSIM for travel card {card_number} is ready. Install it: {url}"),
    # SOS (emergency/service.py): to each emergency contact, in the contact's language; the time is UTC.
    "sos_alert": lazy(
        "[Roamcard] SOS from {name}, who asked for help. Last network: {country}, {time}. "
        "Local emergency number: {number}."
    ),
    # The first network seen in a country the card had not been in (network/service.py), once per country.
    "welcome_country": lazy(
        "[Roamcard] Welcome to {country}. Emergency calls are free: dial {number}. Rates and packs: {url}"
    ),
    # Usage alerts (charging/service/alerts.py), once per pack and threshold; each links to the recharge page.
    "pack_used_80": lazy("[Roamcard] You have used 80% of your {pack}. Recharge or buy a pack: {url}"),
    "pack_used_100": lazy(
        "[Roamcard] Your {pack} is used up; usage is now paid from your balance. "
        "Recharge or buy a pack: {url}"
    ),
    "low_balance": lazy("[Roamcard] Your balance is low: {balance}. Recharge: {url}"),
    "pack_expiring": lazy("[Roamcard] Your {pack} expires on {date} (UTC). Recharge or buy a pack: {url}"),
    # The card's validity (card/closure.py `sweep`): ROAMCARD_VALIDITY_REMINDER_DAYS before it lapses.
    "validity_reminder": lazy(
        "[Roamcard] Your card stays valid until {date}. Recharge before then to keep its number: {url}"
    ),
    # A newly issued card's service password (`roamcard cards create --sms`, later the eSIM order).
    "card_issued": lazy(
        "[Roamcard] Card {card_number} is ready. Service password: {password}. Never share it."
    ),
}

# The parameter of each template that is a secret: never stored or logged in clear (docs/security.md).
SECRET_PARAMS: dict[str, str] = {
    "phone_change_code": "code",
    "password_reset": "password",
    "password_reset_code": "code",
    "card_issued": "password",
    "esim_confirmation_code": "code",
}
# Verification codes: limited per number (ROAMCARD_SMS_CODES_PER_NUMBER_PER_HOUR).
CODE_TEMPLATES = frozenset({"phone_change_code", "password_reset_code"})
