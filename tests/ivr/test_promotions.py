"""The hotline speaks the price the link's order is charged, through the same quote step as every other
channel: an active code-free campaign's discounted price, in Chinese and in English; a campaign behind a
code is never applied by phone (no code can be keyed in)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from roamcard import i18n
from roamcard.db import Database
from roamcard.ivr import prompts, speech
from roamcard.kit.money import Money
from roamcard.models import Card, Notification, TopupOrder
from tests.ivr.conftest import PASSWORD
from tests.ivr.phone import Phone
from tests.promotion.test_topup import TWENTY, _load

BALANCE_10 = 'products = ["balance-10"]'


def _spoken(language: str, price: int, listed: int | None = None) -> str:
    product = "$10 balance" if language == "en" else "10 美元余额"
    said = {"product": product, "price": speech.money(Money(price, "USD"), language), "key": 1}
    if listed is None:
        return i18n.gettext(prompts.PRODUCT_OPTION, language, **said)
    listed_said = speech.money(Money(listed, "USD"), language)
    return i18n.gettext(prompts.PRODUCT_OPTION_OFFER, language, **said, list_price=listed_said)


def _order(database: Database, card: Card) -> TopupOrder:
    with database.reading() as session:
        order = session.scalars(select(TopupOrder).where(TopupOrder.card_id == card.id)).one()
        session.expunge(order)
        return order


class TestSpokenPrice:
    def test_english_hears_the_discounted_price_and_the_link_charges_it(
        self, phone: Phone, english_card: Card, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, BALANCE_10))
        phone.sign_in(english_card.card_number, PASSWORD, language="2")
        turn = phone.press("3")
        assert ("en-US", "For $10 balance, on offer at $8.00 instead of $10.00, press 1.") in turn.said
        phone.press("1")
        order = _order(database, english_card)
        assert (order.price_amount, order.list_price_amount, order.channel) == (800, 1000, "ivr")
        with database.reading() as session:
            sms = session.scalars(select(Notification).where(Notification.template == "payment_link")).one()
        assert "$8.00" in sms.body

    def test_chinese_hears_the_discounted_price_in_chinese(
        self, phone: Phone, card: Card, database: Database, tmp_path: Path
    ) -> None:
        _load(database, tmp_path, ("spring", TWENTY, BALANCE_10))
        phone.sign_in(card.card_number, PASSWORD)
        turn = phone.press("3")
        assert ("cmn-CN", "10 美元余额，优惠价 8美元，原价 10美元，请按 1。") in turn.said
        assert ("cmn-CN", _spoken("zh-CN", 800, 1000)) in turn.said
        phone.press("1")
        assert _order(database, card).price_amount == 800

    def test_a_campaign_for_other_channels_or_behind_a_code_is_not_spoken(
        self, phone: Phone, english_card: Card, database: Database, tmp_path: Path
    ) -> None:
        _load(
            database,
            tmp_path,
            ("web-only", TWENTY, BALANCE_10 + '\nchannels = ["web"]'),
            ("coded", TWENTY, BALANCE_10 + '\ncode = "SPRING2027"'),
        )
        phone.sign_in(english_card.card_number, PASSWORD, language="2")
        turn = phone.press("3")
        assert ("en-US", _spoken("en", 1000)) in turn.said
        phone.press("1")
        assert _order(database, english_card).price_amount == 1000
