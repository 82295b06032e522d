from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.models import PromotionCampaign
from roamcard.promotion.service.load import DEMO_CAMPAIGNS, CampaignFileError, load_campaigns
from tests.factories import make_catalog

runner = CliRunner()

SPRING = """
[[campaigns]]
id = "spring-2027"
name_zh = "春节充值特惠"
name_en = "Spring Festival offer"
starts_at = "2027-01-20T00:00:00+08:00"
ends_at = "2027-02-10T00:00:00+08:00"
benefit = { kind = "percent_off", percent = 20 }
products = ["data-5gb-30d", "balance-30"]
channels = ["web", "api"]
code = "spring2027"
max_redemptions = 50
budget = { CNY = 5000000 }
priority = 10
"""


def _file(tmp_path: Path, text: str, name: str = "campaigns.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _campaigns(database: Database) -> dict[str, PromotionCampaign]:
    with database.reading() as session:
        return {c.id: c for c in session.scalars(select(PromotionCampaign))}


class TestLoad:
    def test_a_campaign_is_stored_in_utc_with_its_code_upper_cased(
        self, session: Session, tmp_path: Path
    ) -> None:
        make_catalog(session)
        result = load_campaigns(session, _file(tmp_path, SPRING))
        assert (result.created, result.updated) == (1, 0)
        campaign = session.get(PromotionCampaign, "spring-2027")
        assert campaign is not None
        assert campaign.starts_at == datetime(2027, 1, 19, 16, tzinfo=UTC)
        assert campaign.ends_at == datetime(2027, 2, 9, 16, tzinfo=UTC)
        assert campaign.benefit == {"kind": "percent_off", "percent": 20}
        assert campaign.code == "SPRING2027"
        assert campaign.channels == ["web", "api"]
        assert campaign.payment_methods is None
        assert (campaign.file_status, campaign.office_status) == ("active", "active")

    def test_a_reload_updates_the_definition_but_keeps_the_back_office_status(
        self, session: Session, tmp_path: Path
    ) -> None:
        make_catalog(session)
        load_campaigns(session, _file(tmp_path, SPRING))
        campaign = session.get(PromotionCampaign, "spring-2027")
        assert campaign is not None
        campaign.office_status = "paused"
        session.flush()
        result = load_campaigns(session, _file(tmp_path, SPRING.replace("percent = 20", "percent = 25")))
        assert (result.created, result.updated) == (0, 1)
        session.refresh(campaign)
        assert campaign.benefit["percent"] == 25
        assert campaign.office_status == "paused"

    def test_campaigns_the_file_leaves_out_are_kept(self, session: Session, tmp_path: Path) -> None:
        make_catalog(session)
        load_campaigns(session, _file(tmp_path, SPRING))
        other = SPRING.replace('id = "spring-2027"', 'id = "national-day"')
        load_campaigns(session, _file(tmp_path, other))
        assert {c.id for c in session.scalars(select(PromotionCampaign))} == {"spring-2027", "national-day"}

    def test_the_demo_file_loads(self, session: Session) -> None:
        make_catalog(session)
        result = load_campaigns(session, DEMO_CAMPAIGNS)
        assert result.created >= 3


BAD_FILES = [
    ('products = ["data-5gb-30d", "balance-30"]', 'products = ["nope"]', "products: unknown product 'nope'"),
    (
        'ends_at = "2027-02-10T00:00:00+08:00"',
        'ends_at = "2027-01-10T00:00:00+08:00"',
        "ends_at: the window ends before it starts",
    ),
    ('"2027-01-20T00:00:00+08:00"', '"2027-01-20T00:00:00"', "starts_at: needs an explicit UTC offset"),
    ("percent = 20", "percent = 0", "benefit.percent: "),
    ("percent = 20", "percent = 101", "benefit.percent: "),
    (
        '{ kind = "percent_off", percent = 20 }',
        '{ kind = "amount_off", amounts = { } }',
        "benefit.amounts: give an amount in at least one currency",
    ),
    (
        '{ kind = "percent_off", percent = 20 }',
        '{ kind = "amount_off", amount = 200 }',
        "benefit.amounts: ",
    ),
    ("budget = { CNY = 5000000 }", "budget = { EUR = 5000000 }", "budget: unsupported currency EUR"),
    (
        '{ kind = "percent_off", percent = 20 }',
        '{ kind = "bonus_pack", asset = "GOLD", amount = 1, validity_days = 30, value = { CNY = 1 } }',
        "benefit.asset: unknown asset 'GOLD'",
    ),
    ('channels = ["web", "api"]', 'channels = ["fax"]', "channels.0: "),
]


class TestBadFiles:
    @pytest.mark.parametrize(("good", "bad", "expected"), BAD_FILES)
    def test_is_refused_naming_campaign_and_field_and_loads_nothing(
        self, database: Database, tmp_path: Path, good: str, bad: str, expected: str
    ) -> None:
        with database.transaction() as session:
            make_catalog(session)
        assert good in SPRING
        second = SPRING.replace('id = "spring-2027"', 'id = "fine-one"')
        text = second + SPRING.replace(good, bad)
        result = runner.invoke(app, ["promotions", "load", str(_file(tmp_path, text))])
        assert result.exit_code == 2, result.output
        # Rich wraps long lines: compare with the whitespace folded.
        assert f'campaign "spring-2027": {expected}' in " ".join(result.output.split())
        assert _campaigns(database) == {}

    @pytest.mark.parametrize("percent", [1, 100])
    def test_the_percent_range_includes_its_ends(
        self, session: Session, tmp_path: Path, percent: int
    ) -> None:
        make_catalog(session)
        assert "percent = 20" in SPRING
        load_campaigns(session, _file(tmp_path, SPRING.replace("percent = 20", f"percent = {percent}")))
        stored = session.get(PromotionCampaign, "spring-2027")
        assert stored is not None
        assert stored.benefit["percent"] == percent

    def test_an_id_twice_in_the_file_is_refused(self, session: Session, tmp_path: Path) -> None:
        make_catalog(session)
        with pytest.raises(CampaignFileError, match='campaign "spring-2027": id: listed twice'):
            load_campaigns(session, _file(tmp_path, SPRING + SPRING))

    def test_a_campaign_without_an_id_is_named_by_its_position(
        self, session: Session, tmp_path: Path
    ) -> None:
        make_catalog(session)
        with pytest.raises(CampaignFileError, match="campaign #2: id: Field required"):
            load_campaigns(session, _file(tmp_path, SPRING + SPRING.replace('id = "spring-2027"\n', "")))

    def test_an_unreadable_file_is_refused(self, session: Session, tmp_path: Path) -> None:
        with pytest.raises(CampaignFileError):
            load_campaigns(session, _file(tmp_path, "[[campaigns]\n"))


class TestCli:
    def test_load_reports_counts_and_a_reload_updates(self, database: Database, tmp_path: Path) -> None:
        with database.transaction() as session:
            make_catalog(session)
        path = _file(tmp_path, SPRING)
        first = runner.invoke(app, ["promotions", "load", str(path)])
        assert first.exit_code == 0, first.output
        assert "created 1, updated 0" in first.output
        again = runner.invoke(app, ["promotions", "load", str(path)])
        assert "created 0, updated 1" in again.output
        assert set(_campaigns(database)) == {"spring-2027"}

    def test_demo_loads_the_demo_campaigns(self, database: Database) -> None:
        result = runner.invoke(app, ["demo"])
        assert result.exit_code == 0, result.output
        assert "spring-2027" in _campaigns(database)
