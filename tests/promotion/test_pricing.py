from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from roamcard.kit.money import Money
from roamcard.promotion.service.pricing import Campaign, Order, choose, eligible, price

BEIJING = timezone(timedelta(hours=8))
STARTS = datetime(2027, 1, 20, tzinfo=BEIJING)
ENDS = datetime(2027, 2, 10, tzinfo=BEIJING)
DURING = datetime(2027, 1, 25, tzinfo=UTC)


def campaign(id: str = "spring", benefit: dict[str, Any] | None = None, **fields: Any) -> Campaign:
    return Campaign(
        id=id,
        name_en=f"{id} offer",
        name_zh=f"{id} 特惠",
        starts_at=STARTS.astimezone(UTC),
        ends_at=ENDS.astimezone(UTC),
        benefit=benefit or {"kind": "percent_off", "percent": 20},
        **fields,
    )


ORDER = Order(
    product_id="data-5gb-30d",
    product_kind="data",
    list_price=Money(10800, "CNY"),
    card_currency="USD",
    channel="web",
    payment_method="alipay",
    coverage=("US", "CA"),
)


class TestWindow:
    def test_opens_at_its_start_in_its_own_offset(self) -> None:
        c = campaign()
        assert not eligible(c, ORDER, datetime(2027, 1, 19, 15, 59, 59, tzinfo=UTC))
        assert eligible(c, ORDER, datetime(2027, 1, 19, 16, tzinfo=UTC))

    def test_closes_at_its_end_exclusive(self) -> None:
        c = campaign()
        just_before = datetime(2027, 2, 9, 23, 59, 59, tzinfo=BEIJING)
        assert eligible(c, ORDER, just_before.astimezone(timezone(timedelta(hours=-5))))
        assert not eligible(c, ORDER, datetime(2027, 2, 9, 16, tzinfo=UTC))

    @pytest.mark.parametrize(
        ("file_status", "office_status"),
        [("paused", "active"), ("active", "paused"), ("active", "ended"), ("ended", "active")],
    )
    def test_is_live_only_when_both_statuses_are_active(self, file_status: str, office_status: str) -> None:
        c = campaign(file_status=file_status, office_status=office_status)
        assert not eligible(c, ORDER, DURING)


class TestEligibility:
    @pytest.mark.parametrize(
        ("fields", "order_change"),
        [
            ({"products": ["balance-30"]}, {}),
            ({"product_kinds": ["balance"]}, {}),
            ({"channels": ["ivr", "pos"]}, {}),
            ({"payment_methods": ["wechat_pay"]}, {}),
            ({"payment_methods": ["alipay"]}, {"payment_method": None}),
            ({"currencies": ["USD"]}, {}),
            ({"first_recharge_only": True}, {}),
            ({"min_price": {"CNY": 10801}}, {}),
            ({"code": "SPRING2027"}, {}),
            ({"code": "SPRING2027"}, {"promo_code": "SPRING2026"}),
        ],
    )
    def test_a_rule_the_order_misses_leaves_the_campaign_out(
        self, fields: dict[str, Any], order_change: dict[str, Any]
    ) -> None:
        c = campaign(**fields)
        assert not eligible(c, replace(ORDER, **order_change), DURING)

    @pytest.mark.parametrize(
        ("fields", "order_change"),
        [
            ({"products": ["data-5gb-30d"]}, {}),
            ({"product_kinds": ["data"]}, {}),
            ({"channels": ["web"]}, {}),
            ({"payment_methods": ["alipay"]}, {}),
            ({"currencies": ["CNY"]}, {}),
            ({"first_recharge_only": True}, {"first_recharge": True}),
            ({"min_price": {"CNY": 10800, "USD": 99999}}, {}),
            ({"code": "SPRING2027"}, {"promo_code": "spring2027"}),
        ],
    )
    def test_a_rule_the_order_meets_lets_it_in(
        self, fields: dict[str, Any], order_change: dict[str, Any]
    ) -> None:
        assert eligible(campaign(**fields), replace(ORDER, **order_change), DURING)


class TestBenefits:
    def test_percent_off_is_rounded_down_to_a_whole_minor_unit(self) -> None:
        order = replace(ORDER, list_price=Money(999, "CNY"))
        priced = price([campaign(benefit={"kind": "percent_off", "percent": 15})], order, DURING)
        assert priced.discounts[0].amount == Money(149, "CNY")  # 149.85
        assert priced.charge == Money(850, "CNY")

    def test_amount_off_uses_the_orders_currency(self) -> None:
        c = campaign(benefit={"kind": "amount_off", "amounts": {"USD": 200, "CNY": 1400}})
        priced = price([c], ORDER, DURING)
        assert priced.discounts[0].amount == Money(1400, "CNY")
        assert priced.charge == Money(9400, "CNY")

    def test_amount_off_without_the_orders_currency_does_not_apply(self) -> None:
        c = campaign(benefit={"kind": "amount_off", "amounts": {"USD": 200}})
        assert price([c], ORDER, DURING).discounts == []

    def test_amount_off_never_takes_more_than_the_price(self) -> None:
        c = campaign(benefit={"kind": "amount_off", "amounts": {"CNY": 50000}})
        assert price([c], ORDER, DURING).charge == Money(0, "CNY")

    def test_bonus_balance_credits_the_cards_currency_and_counts_the_orders(self) -> None:
        c = campaign(benefit={"kind": "bonus_balance", "amounts": {"USD": 500, "CNY": 3600}})
        priced = price([c], ORDER, DURING)
        assert priced.charge == Money(10800, "CNY")
        (bonus,) = priced.bonuses
        assert (bonus.asset, bonus.amount, bonus.value) == ("USD", 500, Money(3600, "CNY"))

    def test_bonus_balance_with_nothing_for_the_cards_wallet_does_not_apply(self) -> None:
        c = campaign(benefit={"kind": "bonus_balance", "amounts": {"CNY": 3600}})
        assert price([c], ORDER, DURING).bonuses == []

    def test_bonus_pack_takes_the_products_coverage_unless_it_has_its_own(self) -> None:
        pack = {
            "kind": "bonus_pack",
            "asset": "DATA_BYTES",
            "amount": 1 << 30,
            "validity_days": 30,
            "value": {"CNY": 3600},
        }
        (bonus,) = price([campaign(benefit=pack)], ORDER, DURING).bonuses
        assert (bonus.asset, bonus.amount, bonus.validity_days) == ("DATA_BYTES", 1 << 30, 30)
        assert tuple(bonus.coverage) == ("US", "CA")
        (own,) = price([campaign(benefit={**pack, "coverage": ["JP"]})], ORDER, DURING).bonuses
        assert tuple(own.coverage) == ("JP",)


PACK = {
    "kind": "bonus_pack",
    "asset": "DATA_BYTES",
    "amount": 1 << 30,
    "validity_days": 30,
    "value": {"CNY": 3600},
}


class TestChoice:
    def test_the_single_best_benefit_applies(self) -> None:
        twenty = campaign("twenty")  # ¥21.60 off
        pack = campaign("pack", benefit=PACK)  # worth ¥36.00
        fixed = campaign("fixed", benefit={"kind": "amount_off", "amounts": {"CNY": 1000}})
        priced = price([twenty, pack, fixed], ORDER, DURING)
        assert priced.campaign_ids == ["pack"]
        assert priced.charge == Money(10800, "CNY")

    def test_a_tie_goes_to_the_higher_priority(self) -> None:
        low = campaign("a-low", benefit={"kind": "amount_off", "amounts": {"CNY": 2160}}, priority=1)
        high = campaign("b-high", priority=5)  # 20 % of 108.00 = 21.60, the same worth
        assert [c.id for c in choose([low, high], ORDER, DURING)] == ["b-high"]

    def test_stackable_campaigns_add_to_the_best_one(self) -> None:
        best = campaign("twenty")
        extra = campaign("extra", benefit={"kind": "amount_off", "amounts": {"CNY": 1000}}, stackable=True)
        bonus = campaign("bonus", benefit=PACK, stackable=True)
        weaker = campaign("ten", benefit={"kind": "percent_off", "percent": 10})
        priced = price([best, extra, bonus, weaker], ORDER, DURING)
        assert sorted(priced.campaign_ids) == ["bonus", "extra", "twenty"]
        assert priced.charge == Money(10800 - 2160 - 1000, "CNY")
        assert priced.value_of("bonus") == 3600

    def test_stacked_discounts_never_take_the_charge_below_zero(self) -> None:
        a = campaign("a", benefit={"kind": "percent_off", "percent": 80}, stackable=True)
        b = campaign("b", benefit={"kind": "percent_off", "percent": 50}, stackable=True)
        priced = price([a, b], ORDER, DURING)
        assert priced.charge == Money(0, "CNY")
        assert sum(d.amount.amount for d in priced.discounts) == 10800

    def test_no_campaign_means_the_list_price(self) -> None:
        priced = price([], ORDER, DURING)
        assert (priced.charge, priced.discounts, priced.bonuses) == (Money(10800, "CNY"), [], [])

    def test_the_record_keeps_names_amounts_and_bonus_details(self) -> None:
        priced = price([campaign("twenty"), campaign("pack", benefit=PACK, stackable=True)], ORDER, DURING)
        record = {r["campaign_id"]: r for r in priced.to_record()}
        assert record["twenty"] == {
            "campaign_id": "twenty",
            "name_en": "twenty offer",
            "name_zh": "twenty 特惠",
            "kind": "discount",
            "amount": 2160,
            "currency": "CNY",
        }
        assert (record["pack"]["asset"], record["pack"]["value"]) == ("DATA_BYTES", 3600)
