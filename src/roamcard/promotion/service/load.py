"""`roamcard promotions load FILE`: validate the whole file, then upsert its campaigns (all or nothing)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from roamcard.catalog import repository as catalog_repository
from roamcard.kit import clock
from roamcard.models import PromotionCampaign
from roamcard.promotion import repository
from roamcard.promotion.schemas import CampaignDefinition, CampaignFile
from roamcard.promotion.states import CampaignStatus

DEMO_CAMPAIGNS = Path(__file__).resolve().parent.parent.parent / "data" / "demo_campaigns.toml"


class CampaignFileError(ValueError):
    """The file is refused; the message lists every problem, each naming its campaign and field."""


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int


def _field(loc: tuple[int | str, ...]) -> str:
    # A discriminated union puts the kind in the path (benefit.percent_off.percent): leave it out.
    parts = [str(p) for p in loc if p not in {"percent_off", "amount_off", "bonus_balance", "bonus_pack"}]
    return ".".join(parts)


def _message(error: Any) -> str:
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ")


def parse_campaigns(path: Path, *, known_products: set[str]) -> list[CampaignDefinition]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CampaignFileError(f"{path}: {exc}") from exc
    try:
        tables = CampaignFile.model_validate(raw).campaigns
    except ValidationError as exc:
        lines = [f"{_field(err['loc'])}: {_message(err)}" for err in exc.errors()]
        raise CampaignFileError(f"{path}:\n  " + "\n  ".join(lines)) from exc
    problems: list[str] = []
    definitions: list[CampaignDefinition] = []
    seen: set[str] = set()
    for index, table in enumerate(tables, start=1):
        name = f'campaign "{table["id"]}"' if isinstance(table.get("id"), str) else f"campaign #{index}"
        try:
            definition = CampaignDefinition.model_validate(table)
        except ValidationError as exc:
            for err in exc.errors():
                field = _field(err["loc"])
                message = _message(err)
                # A model-level check names its field at the start of its message.
                problems.append(f"{name}: {field}: {message}" if field else f"{name}: {message}")
            continue
        if definition.id in seen:
            problems.append(f"{name}: id: listed twice in the file")
        seen.add(definition.id)
        for product_id in definition.products or []:
            if product_id not in known_products:
                problems.append(f"{name}: products: unknown product {product_id!r}")
        definitions.append(definition)
    if problems:
        raise CampaignFileError(f"{path}:\n  " + "\n  ".join(problems))
    return definitions


def _columns(definition: CampaignDefinition) -> dict[str, Any]:
    values = definition.model_dump(mode="json", exclude={"status", "starts_at", "ends_at", "code"})
    values["starts_at"] = definition.starts_at.astimezone(UTC)
    values["ends_at"] = definition.ends_at.astimezone(UTC)
    values["code"] = definition.code.upper() if definition.code else None
    values["file_status"] = definition.status.value
    return values


def load_campaigns(session: Session, path: Path) -> LoadResult:
    """Upsert every campaign in the file by `id`. The back office's status is never touched; campaigns
    the file leaves out are left as they are (several files can be loaded, one per season)."""
    known = {product.id for product in catalog_repository.list_all(session)}
    definitions = parse_campaigns(path, known_products=known)
    now = clock.now()
    existing = {c.id: c for c in repository.list_all(session)}
    created = updated = 0
    for definition in definitions:
        values = _columns(definition)
        campaign = existing.get(definition.id)
        if campaign is None:
            session.add(
                PromotionCampaign(
                    **values, office_status=CampaignStatus.ACTIVE.value, created_at=now, updated_at=now
                )
            )
            created += 1
            continue
        for field, value in values.items():
            setattr(campaign, field, value)
        campaign.updated_at = now
        updated += 1
    session.flush()
    return LoadResult(created=created, updated=updated)
