from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from roamcard.kit.schemas import Schema


class ContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200, description="As the holder calls them (at most 60 characters)")
    phone: str = Field(max_length=32, description="E.164 (+8613800138000)")
    language: str = Field(max_length=8, description="The SOS message's language: zh-CN or en")


class EmergencyContactsIn(BaseModel):
    """The whole list (it replaces the previous one): at most 3 contacts."""

    model_config = ConfigDict(extra="forbid")
    holder_name: str | None = Field(
        default=None, max_length=200, description="Your name as the SOS message gives it (at most 60)"
    )
    contacts: list[ContactIn] = Field(max_length=10)


class ContactOut(Schema):
    position: int
    name: str
    phone: str
    language: str


class EmergencyContactsOut(Schema):
    holder_name: str | None
    contacts: list[ContactOut]


class SosOut(Schema):
    id: str = Field(description="sos_…")
    contacts_notified: int
    country: str | None = Field(description="The last network's country (ISO 3166-1 alpha-2), if any")
    emergency_number: str = Field(description="The local emergency number the contacts were told")
    created_at: datetime
