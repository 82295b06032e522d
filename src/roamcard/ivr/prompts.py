"""Everything the hotline says: English msgids, spoken from the zh-CN or en catalogue (ivr.po)."""

from __future__ import annotations

from roamcard.i18n import lazy

# The language menu is said in both languages, each part in its own voice.
WELCOME_CHINESE = lazy("Welcome to the Roamcard customer-service hotline. For Chinese, press 1.")
WELCOME_ENGLISH = lazy("Welcome to Roamcard. For English, press 2.")

ENTER_CARD_NUMBER = lazy(
    "Please enter your card number, the 19 or 20 digits printed on your card, then press the pound key."
)
CARD_NUMBER_INVALID = lazy("That card number is not valid.")
ENTER_PASSWORD = lazy("Please enter your service password, then press the pound key.")
SIGN_IN_AGAIN = lazy("Let us try again.")
# Said at the password step only when the call comes from the card's bound phone (emergency/service.py).
SOS_WITHOUT_PASSWORD = lazy("In an emergency, press 8 instead to alert your emergency contacts.")
SOS_NEEDS_SIGN_IN = lazy(
    "This phone is not the one bound to the card. To send an SOS, enter the service password first."
)
SOS_SENT = lazy(
    "Your emergency contacts are being told by text message. The local emergency number is {number}."
)
SOS_NO_CONTACTS = lazy(
    "This card has no emergency contacts. Add them on our website. The local emergency number is {number}."
)

MENU = lazy(
    "To hear your balance and packs, press 1. To recharge with a recharge card PIN, press 2. "
    "To get a payment link by text message, press 3. To speak to an agent, press 0. "
    "In an emergency, to alert your emergency contacts, press 8. To hear these options again, press 9."
)
# A suspended (or expired) card signed in with its password: the emergency service stays open, nothing else.
EMERGENCY_MENU = lazy(
    "Only the emergency service is open for this card. To alert your emergency contacts, press 8. "
    "To hear the local emergency numbers, press 1. To speak to an agent, press 0. "
    "To hear these options again, press 9."
)
EMERGENCY_NUMBERS = lazy("The local emergency numbers are: {numbers}.")
NOT_AN_OPTION = lazy("Sorry, that is not an option.")
NO_INPUT = lazy("Sorry, we did not hear anything.")

BALANCE = lazy("Your balance is {balance}.")
PACK = lazy("{amount} left, valid until {date}.")
NO_PACKS = lazy("You have no data or voice packs.")

ENTER_PIN = lazy("Please enter the PIN of your recharge card, then press the pound key.")
RECHARGED = lazy("Your recharge is complete. Your balance is now {balance}.")

CHOOSE_PRODUCT = lazy(
    "Choose a recharge, and we will send a payment link by text message to your bound phone."
)
PRODUCT_OPTION = lazy("For {product}, {price}, press {key}.")
PRODUCT_OPTION_OFFER = lazy("For {product}, on offer at {price} instead of {list_price}, press {key}.")
BACK_TO_MENU = lazy("To go back to the main menu, press star.")
NO_PRODUCTS = lazy("No recharge can be bought by phone right now.")
LINK_SENT = lazy(
    "We have sent a payment link to your phone number ending in {phone_tail}. "
    "It is valid for {minutes} minutes."
)
LINK_FAILED = lazy("We could not create a payment link right now. Please try again later.")
CARD_SUSPENDED = lazy("This card is suspended. To speak to an agent, press 0.")

TRANSFERRING = lazy("Please hold while we transfer you to an agent.")
NO_AGENT = lazy("Sorry, no agent is available right now.")

GOODBYE = lazy("Thank you for calling Roamcard. Goodbye.")
GAVE_UP = lazy("We could not complete your request. Please call again later or visit our website. Goodbye.")
