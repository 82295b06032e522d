from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, BigIntPK, UTCDateTime


class Notification(Base):
    """An SMS to a bound phone; `key` makes "one SMS per event" hold under retries.

    `body` is the text with any secret (a code, a password) masked; the secret itself is in `secret`,
    encrypted under the "message-secret" purpose key with the key as context, and deleted once the message
    is sent (and, when `secret_until_shown`, once the buyer's page has shown it). `params` are the
    template's other parameters, for providers that send a template code with parameters (Alibaba Cloud).
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_provider_reference", "provider", "provider_reference"),
        Index("ix_notifications_phone_created", "phone", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), nullable=True, index=True)
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    template: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret_until_shown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    secret_shown_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    parts: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    # The providers this message may go through, in order ("aliyun,twilio"), and the one it is on.
    route: Mapped[str | None] = mapped_column(String(100), nullable=True)
    route_index: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    provider: Mapped[str | None] = mapped_column(String(20), nullable=True)
    provider_reference: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_detail: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
