"""Demo data: the demo catalogue and campaigns, and two demo cards with known passwords (demo mode only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from roamcard.card import repository as card_repository
from roamcard.card import service as card_service
from roamcard.catalog import service as catalog_service
from roamcard.esim.service import inventory as esim_inventory
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
    return list(DEMO_CARDS)
