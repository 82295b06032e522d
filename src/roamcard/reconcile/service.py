"""Match a gateway's lines against our succeeded payments and refunds, per day (the gateway's day:
Beijing time for Alipay and WeChat Pay, UTC for Stripe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from roamcard.kit.clock import BEIJING
from roamcard.models import Payment, Refund
from roamcard.payment.states import PaymentStatus
from roamcard.reconcile.parsers import GatewayLine
from roamcard.refund.states import RefundStatus

TIMEZONES: dict[str, tzinfo] = {
    "alipay": BEIJING,
    "wechat_pay": BEIJING,
    "stripe": UTC,
}


@dataclass
class Finding:
    kind: str
    reference: str
    detail: str


@dataclass
class DayReport:
    day: date
    matched: int = 0
    missing_ours: list[Finding] = field(default_factory=list)  # the gateway has it, we do not
    missing_gateway: list[Finding] = field(default_factory=list)  # we have it, the gateway does not
    amount_mismatches: list[Finding] = field(default_factory=list)
    status_mismatches: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.missing_ours or self.missing_gateway or self.amount_mismatches or self.status_mismatches
        )


@dataclass
class Report:
    provider: str
    days: list[DayReport]

    @property
    def clean(self) -> bool:
        return all(day.clean for day in self.days)


def reconcile(session: Session, provider: str, lines: list[GatewayLine]) -> Report:
    zone = TIMEZONES[provider]
    days: dict[date, DayReport] = {}

    def day_of(moment: datetime) -> date:
        return moment.astimezone(zone).date()

    seen: set[tuple[str, str]] = set()
    for line in lines:
        report = days.setdefault(line.day, DayReport(line.day))
        seen.add((line.kind, line.reference))
        ours: Payment | Refund | None
        if line.kind == "payment":
            ours = session.get(Payment, line.reference) if line.reference else None
            if ours is not None and ours.provider != provider:
                ours = None
            done = PaymentStatus.SUCCEEDED.value
        else:
            ours = session.get(Refund, line.reference) if line.reference else None
            done = RefundStatus.SUCCEEDED.value
        label = line.reference or line.gateway_id
        if ours is None:
            report.missing_ours.append(
                Finding(line.kind, label, f"{line.gateway_id} {line.amount} {line.currency}")
            )
        elif (ours.amount, ours.currency) != (line.amount, line.currency):
            report.amount_mismatches.append(
                Finding(
                    line.kind,
                    label,
                    f"gateway {line.amount} {line.currency}, ours {ours.amount} {ours.currency}",
                )
            )
        elif (ours.status == done) != (line.status == "success"):
            report.status_mismatches.append(
                Finding(line.kind, label, f"gateway {line.status}, ours {ours.status}")
            )
        else:
            report.matched += 1
    if days:
        first, last = min(days), max(days)
        start = datetime.combine(first, datetime.min.time(), zone) - timedelta(days=1)
        end = datetime.combine(last, datetime.min.time(), zone) + timedelta(days=2)
        for payment in session.scalars(
            select(Payment).where(
                Payment.provider == provider,
                Payment.status == PaymentStatus.SUCCEEDED.value,
                Payment.updated_at >= start,
                Payment.updated_at < end,
            )
        ):
            day = day_of(payment.updated_at)
            if day in days and ("payment", payment.id) not in seen:
                days[day].missing_gateway.append(
                    Finding("payment", payment.id, f"{payment.amount} {payment.currency}")
                )
        for refund in session.scalars(
            select(Refund)
            .join(Payment, Payment.id == Refund.payment_id)
            .where(
                Payment.provider == provider,
                Refund.status == RefundStatus.SUCCEEDED.value,
                Refund.completed_at >= start,
                Refund.completed_at < end,
            )
        ):
            assert refund.completed_at is not None
            day = day_of(refund.completed_at)
            if day in days and ("refund", refund.id) not in seen:
                days[day].missing_gateway.append(
                    Finding("refund", refund.id, f"{refund.amount} {refund.currency}")
                )
    return Report(provider, [days[d] for d in sorted(days)])
