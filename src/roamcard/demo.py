"""Demo data: the demo catalogue and campaigns, two demo cards with known passwords (sandbox cards) and a
sandbox partner (demo mode only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from roamcard.card import repository as card_repository
from roamcard.card import service as card_service
from roamcard.catalog import service as catalog_service
from roamcard.esim.service import inventory as esim_inventory
from roamcard.partner import repository as partner_repository
from roamcard.partner.service import manage as partner_manage
from roamcard.partner.service.sandbox import mark_sandbox_card
from roamcard.promotion.service import load as promotion_load

DEMO_ESIM_PROFILES = Path(__file__).parent / "data" / "demo_esim_profiles.csv"


@dataclass(frozen=True)
class DemoCard:
    card_number: str
    password: str
    phone: str
    language: str


DEMO_CARDS = (
    DemoCard("89103900000000000015", "20261225", "+8613800138000", "zh-CN"),
    DemoCard("89103900000000000023", "20261226", "+14155550100", "en"),
)


def load_demo(session: Session) -> list[DemoCard]:
    """Safe to run any number of times: the catalogue is upserted and existing cards are left alone."""
    catalog_service.load_catalog(session, catalog_service.DEMO_CATALOG)
    promotion_load.load_campaigns(session, promotion_load.DEMO_CAMPAIGNS)
    # A second run finds the demo profiles known already and loads nothing: that is fine.
    esim_inventory.import_file(session, DEMO_ESIM_PROFILES)
    for demo in DEMO_CARDS:
        card = card_repository.get_by_card_number(session, demo.card_number)
        if card is None:
            card = card_service.issue_card(
                session,
                phone=demo.phone,
                password=demo.password,
                language=demo.language,
                card_number=demo.card_number,
            ).card
        # Each demo card gets a profile, so a newcomer sees a real install page.
        esim_inventory.ensure_profile(session, card.id)
        mark_sandbox_card(session, card.id)  # the demo sandbox partner may top it up
    return list(DEMO_CARDS)


DEMO_PARTNER_NAME = "Demo sandbox partner"
DEMO_PARTNER_CALLBACK = "http://127.0.0.1:8088/roamcard/callback"
DEMO_PARTNER_FLOAT = 1_000_000  # $10,000.00 of play money


def load_demo_partner(session: Session) -> partner_manage.CreatedKey:
    """One sandbox partner, its float credited once. Its secret is shown only when made, so each run
    hands out a new key (the previous one keeps working for the usual overlap)."""
    found = partner_repository.get_by_name(session, DEMO_PARTNER_NAME)
    if found is None:
        made = partner_manage.create_partner(
            session,
            name=DEMO_PARTNER_NAME,
            currency="USD",
            callback_url=DEMO_PARTNER_CALLBACK,
            mode="sandbox",
            commission_bps=300,
        )
        found = made.partner
    else:
        made = partner_manage.rotate_key(session, found)
    partner_manage.credit_float(session, found, DEMO_PARTNER_FLOAT, reference="demo-float")
    return made
