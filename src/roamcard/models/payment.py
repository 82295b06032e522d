from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roamcard.models.base import Base, UTCDateTime


class Payment(Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("topup_orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20))
    provider_reference: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Text: a gateway's signed cashier URL (Alipay page.pay / wap.pay) runs past a thousand characters.
    checkout_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What a remote gateway is told when the checkout is opened (kept, so a retry sends the same request).
    description: Mapped[str | None] = mapped_column(String(128), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "qr" (desktop: a QR code to scan) or "redirect" (mobile: a page of the gateway's to go to).
    checkout_flow: Mapped[str | None] = mapped_column(String(16), nullable=True)
    client_ip: Mapped[str | None] = mapped_column(String(45), nullable=True)
    # The content of the QR code to show (Alipay's qr_code, WeChat Pay's code_url).
    qr_code: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # The gateway's own id of the money movement (Alipay trade_no, WeChat transaction_id, Stripe
    # PaymentIntent), learnt from a verified notification or query.
    provider_transaction_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    # When the checkout was first sent to the gateway: what it is told (Stripe expires_at) is computed
    # from this, so a retry of the same create is the same request.
    checkout_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Still unknown after the final-sweep delay: settled or expired by the final sweep (back office list).
    final_sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
