"""Refunds that need a person (issue 9 item 12): a refund whose `refund.submit`/`refund.settle` job died
(the card's value is already reversed and nobody is paying it back), and a late-payment refund the gateway
refused (the payer's money is still with us), and a cancelled card's refund that the gateway refused or
finance rejected (the buyer has a closed card and no money back). The back office lists them with a retry
action, and `roamcard_refunds_needing_attention` (on /metrics) counts them for alerting.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from roamcard.jobs import repository as jobs
from roamcard.metrics import REFUNDS_NEEDING_ATTENTION
from roamcard.models import Job, Refund
from roamcard.refund import repository, service

JOB_DEAD = "job_dead"
LATE_PAYMENT_FAILED = "late_payment_failed"
CARD_CANCELLED_UNPAID = "card_cancelled_unpaid"
PROBLEMS = (JOB_DEAD, LATE_PAYMENT_FAILED, CARD_CANCELLED_UNPAID)


@dataclass(frozen=True)
class NeedsAttention:
    refund: Refund
    problem: str  # one of PROBLEMS
    job: Job | None = None  # the dead job, for JOB_DEAD


def list_needing_attention(session: Session, *, limit: int = 100) -> list[NeedsAttention]:
    stuck = [NeedsAttention(r, JOB_DEAD, job) for r, job in repository.list_stuck(session, limit)]
    failed = [
        NeedsAttention(r, LATE_PAYMENT_FAILED) for r in repository.list_failed_late_payments(session, limit)
    ]
    unpaid = repository.list_unpaid_cancelled_cards(session, limit)
    cancelled = [NeedsAttention(r, CARD_CANCELLED_UNPAID) for r in unpaid]
    return stuck + failed + cancelled


def counts(session: Session) -> dict[str, int]:
    return {
        JOB_DEAD: repository.count_stuck(session),
        LATE_PAYMENT_FAILED: repository.count_failed_late_payments(session),
        CARD_CANCELLED_UNPAID: repository.count_unpaid_cancelled_cards(session),
    }


def refresh_metrics(session: Session) -> None:
    for problem, count in counts(session).items():
        REFUNDS_NEEDING_ATTENTION.labels(problem).set(count)


@dataclass(frozen=True)
class Retried:
    problem: str
    refund: Refund  # the refund that now goes to the gateway (a new one for a failed late payment)
    job_id: int | None = None  # the dead job queued again


def retry(session: Session, refund_id: str, *, staff_ref: str, reason: str = "") -> Retried:
    """A stuck refund: its dead job is queued again with fresh attempts (the gateway dedupes on our refund
    id, and a refusal on that retry is checked with a query first). A failed late-payment refund: a new
    refund of the same money. A cancelled card's failed or rejected refund: a new one, approved by the
    finance member retrying it (the value leaves the closed card again). Anything else:
    RefundNotRetryable."""
    refund = repository.get(session, refund_id)
    if refund is None:
        raise service.RefundNotFound()
    if refund.status in (service.RefundStatus.APPROVED.value, service.RefundStatus.PROCESSING.value):
        job = repository.dead_job_of(session, refund.id)
        if job is None or not jobs.requeue_dead(session, job.id):
            raise service.RefundNotRetryable()
        return Retried(JOB_DEAD, refund, job.id)
    if refund.kind == service.RefundKind.CARD_CANCELLED.value:
        return Retried(
            CARD_CANCELLED_UNPAID,
            service.retry_cancelled_card(session, refund.id, staff_ref=staff_ref, reason=reason),
        )
    return Retried(LATE_PAYMENT_FAILED, service.retry_late_payment(session, refund.id, staff_ref=staff_ref))
