"""The job queue in the back office: supervisors and admins see queued, retrying, running and dead jobs
with their last error (filtered, paged); only an admin retries or discards a dead job, with a reason,
audited; a job that is no longer dead is refused (two staff acting at once queue it once)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from roamcard.db import Database
from roamcard.jobs import outbox, registry
from roamcard.jobs import service as jobs_service
from roamcard.jobs.worker import Worker
from roamcard.kit.sql import Tx
from roamcard.models import Job
from tests.backoffice.console import audit_actions, audit_entries, csrf, make_staff, sign_in

ROLES = ("agent", "supervisor", "finance", "admin")
VIEWERS = {"supervisor", "admin"}
MANAGERS = {"admin"}
broken = {"on": True}
runs: list[dict[str, Any]] = []


@registry.job("test.console_broken")
def console_broken(tx: Tx, payload: dict[str, Any]) -> None:
    runs.append(payload)
    if broken["on"]:
        raise RuntimeError("gateway said no")


@pytest.fixture(autouse=True)
def _reset() -> None:
    broken["on"] = True
    runs.clear()


def dead_job(database: Database, n: int = 1) -> int:
    with database.transaction() as session:
        outbox.enqueue(session, "test.console_broken", {"n": n}, max_attempts=1)
    Worker(database).drain()
    with database.reading() as session:
        job = session.scalars(
            select(Job).where(Job.kind == "test.console_broken").order_by(Job.id.desc())
        ).first()
        assert job is not None
        assert job.status == "dead"
        return job.id


def job_of(database: Database, job_id: int) -> Job:
    with database.reading() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)
        return job


def _act(client: TestClient, job_id: int, action: str, reason: str = "gateway fixed", **extra: Any) -> Any:
    token = csrf(client.get("/admin/jobs").text) if "csrf_token" not in extra else extra.pop("csrf_token")
    return client.post(
        f"/admin/jobs/{job_id}/{action}", data={"csrf_token": token, "reason": reason}, follow_redirects=False
    )


def _job_audits(database: Database) -> list[str]:
    return [a for a in audit_actions(database) if a.startswith("job.")]


@pytest.mark.parametrize("role", ROLES)
class TestRoles:
    def test_the_queue_is_seen_by_supervisors_and_admins(
        self, role: str, client: TestClient, database: Database
    ) -> None:
        job_id = dead_job(database)
        sign_in(client, *make_staff(database, role))
        page = client.get("/admin/jobs")
        if role in VIEWERS:
            assert page.status_code == 200
            assert "test.console_broken" in page.text
            assert "RuntimeError: gateway said no" in page.text
            assert (f'action="/admin/jobs/{job_id}/retry"' in page.text) == (role in MANAGERS)
        else:
            assert page.status_code == 403

    def test_only_an_admin_retries_or_discards(
        self, role: str, client: TestClient, database: Database
    ) -> None:
        job_id = dead_job(database)
        sign_in(client, *make_staff(database, role))
        token = csrf(client.get("/admin").text if role != "finance" else client.get("/admin/refunds").text)
        for action in ("retry", "discard"):
            status = _act(client, job_id, action, csrf_token=token).status_code
            if role in MANAGERS:
                assert status == 303
                break
            assert status == 403
        if role in MANAGERS:
            assert job_of(database, job_id).status == "queued"
            assert _job_audits(database) == ["job.retried"]
        else:
            assert job_of(database, job_id).status == "dead"
            assert _job_audits(database) == []


class TestRetryAndDiscard:
    def test_a_retried_dead_job_runs_and_is_audited_with_its_reason(
        self, client: TestClient, database: Database
    ) -> None:
        job_id = dead_job(database)
        sign_in(client, *make_staff(database, "admin", email="ops@roamcard.test"))
        broken["on"] = False
        response = _act(client, job_id, "retry", reason="gateway fixed")
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/jobs?state=dead&done=retried"
        queued = job_of(database, job_id)
        assert (queued.status, queued.attempts) == ("queued", 0)
        (entry,) = audit_entries(database, "job.retried")
        assert (entry.staff_email, entry.reason, entry.target_id) == (
            "ops@roamcard.test",
            "gateway fixed",
            str(job_id),
        )
        assert entry.before == {"status": "dead", "attempts": 1, "kind": "test.console_broken"}
        assert entry.after == {"status": "queued", "attempts": 0, "kind": "test.console_broken"}

        assert Worker(database).drain() == 1
        assert job_of(database, job_id).status == "done"
        assert len(runs) == 2

    def test_a_second_retry_is_refused_and_audited_as_failed(
        self, client: TestClient, database: Database
    ) -> None:
        job_id = dead_job(database)
        sign_in(client, *make_staff(database, "admin"))
        token = csrf(client.get("/admin/jobs").text)  # both staff loaded the page while it was dead
        assert _act(client, job_id, "retry", csrf_token=token).status_code == 303
        second = _act(client, job_id, "retry", csrf_token=token)
        assert second.status_code == 409
        assert "已不是失败状态" in second.text
        assert _act(client, job_id, "discard", csrf_token=token).status_code == 409
        assert _job_audits(database) == ["job.retried", "job.retried.failed", "job.discarded.failed"]
        assert job_of(database, job_id).status == "queued"

    def test_a_discarded_job_never_runs_again(self, client: TestClient, database: Database) -> None:
        job_id = dead_job(database)
        sign_in(client, *make_staff(database, "admin"))
        assert _act(client, job_id, "discard", reason="duplicate of a refund done by hand").status_code == 303
        assert job_of(database, job_id).status == "discarded"
        assert _act(client, job_id, "retry").status_code == 409
        broken["on"] = False
        assert Worker(database).drain() == 0
        (entry,) = audit_entries(database, "job.discarded")
        assert entry.reason == "duplicate of a refund done by hand"

    def test_a_reason_is_required(self, client: TestClient, database: Database) -> None:
        job_id = dead_job(database)
        sign_in(client, *make_staff(database, "admin"))
        response = _act(client, job_id, "retry", reason="  ")
        assert response.status_code == 422
        assert job_of(database, job_id).status == "dead"

    def test_csrf_is_required(self, client: TestClient, database: Database) -> None:
        job_id = dead_job(database)
        sign_in(client, *make_staff(database, "admin"))
        for token in ("", "forged"):
            response = client.post(
                f"/admin/jobs/{job_id}/retry",
                data={"csrf_token": token, "reason": "x"},
                follow_redirects=False,
            )
            assert response.status_code == 403
        assert job_of(database, job_id).status == "dead"
        assert _job_audits(database) == []

    def test_an_unknown_job_is_a_404(self, client: TestClient, database: Database) -> None:
        sign_in(client, *make_staff(database, "admin"))
        assert _act(client, 999_999, "retry").status_code == 404

    def test_the_service_refuses_a_job_that_is_not_dead(self, database: Database) -> None:
        with database.transaction() as session:
            outbox.enqueue(session, "test.console_broken", {"n": 1})
        with database.transaction() as session:
            job_id = session.scalars(select(Job.id)).one()
            with pytest.raises(jobs_service.JobNotDead):
                jobs_service.retry(session, job_id)
            with pytest.raises(jobs_service.JobNotDead):
                jobs_service.discard(session, job_id)


class TestListing:
    def test_filters_by_state_and_kind_and_pages(
        self, client: TestClient, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from roamcard.backoffice import jobs as jobs_page

        dead = dead_job(database, 1)
        with database.transaction() as session:
            outbox.enqueue(session, "test.console_other", {"n": 2})
            outbox.enqueue(session, "test.console_other", {"n": 3})
            outbox.enqueue(session, "test.console_other", {"n": 4})
            retrying = session.scalars(select(Job).where(Job.kind == "test.console_other")).first()
            assert retrying is not None
            retrying.attempts, retrying.last_error = 1, "TimeoutError: slow"
        sign_in(client, *make_staff(database, "supervisor"))

        only_dead = client.get("/admin/jobs?state=dead").text
        assert only_dead.count('class="job"') == 1
        assert f">{dead}<" in only_dead
        retrying_page = client.get("/admin/jobs?state=retrying").text
        assert retrying_page.count('class="job"') == 1
        assert "TimeoutError: slow" in retrying_page
        assert client.get("/admin/jobs?state=queued").text.count('class="job"') == 2
        assert client.get("/admin/jobs?kind=test.console_other").text.count('class="job"') == 3

        monkeypatch.setattr(jobs_page, "PAGE_SIZE", 2)
        first = client.get("/admin/jobs").text
        assert first.count('class="job"') == 2
        assert "before=" in first
        older = first.split("before=")[1].split('"')[0]
        second = client.get(f"/admin/jobs?before={older}").text
        assert second.count('class="job"') == 2
        assert "before=" not in second

    def test_states_are_localised_and_do_not_wrap(self, client: TestClient, database: Database) -> None:
        dead_job(database)
        sign_in(client, *make_staff(database, "admin"))
        page = client.get("/admin/jobs", headers={"Accept-Language": "zh-CN"}).text
        assert "已失败（死信）" in page
        assert "后台任务" in page
        css = client.get("/admin/static/admin.css").text
        assert ".badge" in css
        assert "white-space: nowrap" in css
        assert "overflow-x: auto" in css
        assert '<div class="scroll">' in page
