"""Back-office page of the job queue (/admin/jobs): queued, retrying, running and dead jobs with their
last error, filtered by state and kind, newest first and paged. An admin retries or discards a dead job
with a reason (audited `job.retried` / `job.discarded`, or `….failed`), through jobs.service, whose
conditional update refuses a job that is no longer dead — two staff clicking at once queue it once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from roamcard.backoffice import service as console
from roamcard.backoffice.endpoints import (
    BackOfficeRoute,
    CsrfChecked,
    Reason,
    Staff,
    _describe,
    _page,
    _see_other,
)
from roamcard.backoffice.views import render
from roamcard.deps import SessionDep
from roamcard.errors import AppError
from roamcard.i18n import lazy
from roamcard.jobs import repository as jobs_repository
from roamcard.jobs import service as jobs
from roamcard.models import Job
from roamcard.staff.roles import Permission
from roamcard.staff.service import StaffContext, StaffForbidden

router = APIRouter(prefix="/admin", route_class=BackOfficeRoute, include_in_schema=False)

PAGE_SIZE = 50
NOTICES = {
    "retried": lazy("The job was queued again with fresh attempts."),
    "discarded": lazy("The job was discarded; it will not run again."),
}
STATE_LABELS = {
    "queued": lazy("Queued"),
    "retrying": lazy("Retrying"),
    "running": lazy("Running"),
    "dead": lazy("Dead"),
    "done": lazy("Done"),
    "discarded": lazy("Discarded"),
}


def _snapshot(job: Job) -> dict[str, Any]:
    return {"status": job.status, "attempts": job.attempts, "kind": job.kind}


def retry(session: Session, context: StaffContext, job_id: int, reason: str) -> Job:
    return _decide(session, context, job_id, reason, "job.retried", jobs.retry)


def discard(session: Session, context: StaffContext, job_id: int, reason: str) -> Job:
    return _decide(session, context, job_id, reason, "job.discarded", jobs.discard)


def _decide(
    session: Session,
    context: StaffContext,
    job_id: int,
    reason: str,
    action: str,
    change: Callable[[Session, int], Job],
) -> Job:
    """A staff decision on a dead job, through the jobs service and audited with its before and after."""
    context.require(Permission.MANAGE_JOBS)
    before = _snapshot(jobs.get(session, job_id))

    def run() -> tuple[Job, dict[str, Any]]:
        job = change(session, job_id)
        return job, _snapshot(job)

    return console.audited(
        session, context, Permission.MANAGE_JOBS, action, target_type="job", target_id=str(job_id),
        card=None, reason=reason, before=before, run=run,
    )  # fmt: skip


def _jobs_page(
    request: Request,
    session: Session,
    context: StaffContext,
    *,
    state: str = "",
    kind: str = "",
    before: int | None = None,
    notice: str = "",
    error: AppError | None = None,
) -> Response:
    context.require(Permission.VIEW_JOBS)
    page = _page(request, context)
    filters = jobs_repository.JobFilter(
        state=state if state in jobs_repository.STATES else None, kind=kind.strip() or None
    )
    rows = jobs_repository.search(session, filters, before_id=before, limit=PAGE_SIZE + 1)
    shown = list(rows[:PAGE_SIZE])
    return render(
        page,
        "jobs.html",
        status_code=error.status_code if error else 200,
        jobs=[(job, jobs.state_of(job)) for job in shown],
        next_before=shown[-1].id if len(rows) > PAGE_SIZE else None,
        counts=jobs_repository.count_by_status(session),
        kinds=jobs_repository.list_kinds(session),
        states={name: page._(label) for name, label in STATE_LABELS.items()},
        filters={"state": filters.state or "", "kind": filters.kind or ""},
        notice=page._(NOTICES[notice]) if notice in NOTICES else None,
        error=_describe(error) if error else None,
    )


@router.get("/jobs")
def jobs_page(
    request: Request,
    session: SessionDep,
    context: Staff,
    state: Annotated[str, Query(max_length=16)] = "",
    kind: Annotated[str, Query(max_length=64)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _jobs_page(request, session, context, state=state, kind=kind, before=before, notice=done)


def _act(request: Request, session: Session, context: StaffContext, done: str, action: Any) -> Response:
    try:
        action()
    except AppError as error:
        if isinstance(error, StaffForbidden | jobs.JobNotFound):
            raise
        return _jobs_page(request, session, context, state="dead", error=error)
    return _see_other(f"/admin/jobs?state=dead&done={done}")


@router.post("/jobs/{job_id}/retry", dependencies=[CsrfChecked])
def retry_job(request: Request, session: SessionDep, context: Staff, job_id: int, reason: Reason) -> Response:
    return _act(request, session, context, "retried", lambda: retry(session, context, job_id, reason))


@router.post("/jobs/{job_id}/discard", dependencies=[CsrfChecked])
def discard_job(
    request: Request, session: SessionDep, context: Staff, job_id: int, reason: Reason
) -> Response:
    return _act(request, session, context, "discarded", lambda: discard(session, context, job_id, reason))
