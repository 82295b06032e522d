from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.worker import Worker
from roamcard.kit.clock import FrozenClock
from roamcard.models import Job, Notification
from roamcard.notification import checks, service
from roamcard.notification.providers import install
from roamcard.notification.providers.aliyun import AliyunSmsProvider
from tests.factories import make_card
from tests.notification.aliyun_fake import ACCESS_KEY_ID, ACCESS_KEY_SECRET, FakeAliyun

CODE = "604211"


@pytest.fixture
def aliyun(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAliyun]:
    fake = FakeAliyun()
    endpoint = fake.start()
    settings = get_settings()
    templates = {name: f"SMS_46{index:07d}" for index, name in enumerate(sorted(checks.message_types()))}
    for name, value in {
        "sms_routes": "+86=aliyun; *=console",
        "aliyun_sms_access_key_id": ACCESS_KEY_ID,
        "aliyun_sms_access_key_secret": SecretStr(ACCESS_KEY_SECRET),
        "aliyun_sms_sign_name": "远游卡",
        "aliyun_sms_endpoint": endpoint,
        "aliyun_sms_templates": templates,
        "sms_timeout_seconds": 5.0,
    }.items():
        monkeypatch.setattr(settings, name, value)
    install("aliyun", AliyunSmsProvider.from_settings(protocol="HTTP"))
    yield fake
    fake.stop()


def _queue(database: Database, key: str = "code:1") -> None:
    with database.transaction() as session:
        card = make_card(session, phone="+8613812345678")
        service.queue_sms(
            session, card, "phone_change_code", key=key, code=CODE, card_tail="5678", minutes=10
        )


def _get(database: Database, key: str = "code:1") -> Notification:
    with database.reading() as session:
        found = session.scalars(select(Notification).where(Notification.key == key)).one()
        session.expunge(found)
        return found


class TestSendSms:
    def test_a_signed_send_sms_carries_the_sign_template_and_parameters(
        self, database: Database, aliyun: FakeAliyun
    ) -> None:
        _queue(database)
        Worker(database).drain()

        assert aliyun.refused_signatures == 0
        [sent] = aliyun.sent
        assert (sent.phone, sent.sign_name, sent.out_id) == ("13812345678", "远游卡", "code:1")
        assert sent.template_code == get_settings().aliyun_sms_templates["phone_change_code"]
        assert sent.template_param == {"card_tail": "5678", "minutes": "10", "code": CODE}
        stored = _get(database)
        assert (stored.status, stored.provider, stored.provider_reference) == ("sent", "aliyun", sent.biz_id)

    def test_a_wrong_access_key_secret_is_refused_by_the_service(
        self, database: Database, aliyun: FakeAliyun, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "aliyun_sms_access_key_secret", SecretStr("not-the-secret"))
        monkeypatch.setattr(get_settings(), "sms_routes", "+86=aliyun,console")
        install("aliyun", AliyunSmsProvider.from_settings(protocol="HTTP"))
        _queue(database)
        Worker(database).drain()
        assert aliyun.refused_signatures == 1
        assert aliyun.sent == []
        # Not taken, for certain: the next provider of the route carries it.
        stored = _get(database)
        assert (stored.status, stored.provider) == ("sent", "console")

    def test_an_invalid_number_fails_the_message_with_the_code(
        self, database: Database, aliyun: FakeAliyun
    ) -> None:
        aliyun.script = ["isv.MOBILE_NUMBER_ILLEGAL"]
        _queue(database)
        Worker(database).drain()
        stored = _get(database)
        assert (stored.status, stored.error_code) == ("failed", "isv.MOBILE_NUMBER_ILLEGAL")


class TestReports:
    def test_the_report_job_pulls_query_send_details_until_delivered(
        self, database: Database, aliyun: FakeAliyun, frozen_clock: FrozenClock
    ) -> None:
        _queue(database)
        worker = Worker(database)
        worker.drain()
        frozen_clock.advance(minutes=2)
        worker.drain()
        assert _get(database).status == "sent"  # SendStatus 1: waiting for the receipt

        aliyun.sent[0].status = 3
        frozen_clock.advance(minutes=5)
        worker.drain()
        assert _get(database).status == "delivered"

    def test_a_push_is_only_a_hint_and_the_answer_is_what_alibaba_cloud_wants(
        self, database: Database, aliyun: FakeAliyun, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        sent = aliyun.sent[0]
        lying = aliyun.report_batch(sent)
        lying[0]["success"], lying[0]["err_code"] = True, "DELIVERED"  # the carrier has not said so

        answer = client.post("/webhooks/aliyun-sms", json=lying)
        assert answer.json() == {"code": 0, "msg": "接收成功"}
        Worker(database).drain()  # the hint makes the job ask now
        assert _get(database).status == "sent"  # QuerySendDetails still says waiting

        sent.status, sent.err_code = 2, "MK:0001"
        client.post("/webhooks/aliyun-sms", json=aliyun.report_batch(sent))
        Worker(database).drain()
        stored = _get(database)
        assert (stored.status, stored.error_code) == ("failed", "MK:0001")

    def test_a_repeated_push_queues_one_question(
        self, database: Database, aliyun: FakeAliyun, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        batch = aliyun.report_batch(aliyun.sent[0])
        for _ in range(3):
            assert client.post("/webhooks/aliyun-sms", json=batch).status_code == 200
        with database.reading() as session:
            hints = session.scalars(
                select(Job).where(Job.kind == "notification.check", Job.dedupe_key.like("sms-hint:%"))
            ).all()
        assert len(hints) == 1

    def test_a_hint_asks_once_and_starts_no_second_polling_chain(
        self, database: Database, aliyun: FakeAliyun, client: TestClient
    ) -> None:
        _queue(database)
        Worker(database).drain()
        client.post("/webhooks/aliyun-sms", json=aliyun.report_batch(aliyun.sent[0]))
        Worker(database).drain()  # the hint's question: still waiting for the receipt
        with database.reading() as session:
            waiting = session.scalars(
                select(Job).where(Job.kind == "notification.check", Job.status == "queued")
            ).all()
        assert len(waiting) == 1  # only the message's own scheduled chain

    def test_a_malformed_push_is_refused(self, client: TestClient, database: Database) -> None:
        assert client.post("/webhooks/aliyun-sms", content=b"not json").status_code == 400


class TestUnknown:
    def test_a_lost_answer_is_settled_by_out_id_and_never_sent_twice(
        self, database: Database, aliyun: FakeAliyun, frozen_clock: FrozenClock
    ) -> None:
        aliyun.script = ["drop-after"]
        _queue(database)
        worker = Worker(database)
        worker.drain()
        assert _get(database).status == "unknown"

        frozen_clock.advance(minutes=2)
        worker.drain()
        assert len(aliyun.sent) == 1
        assert _get(database).status == "sent"

    def test_a_5xx_is_unknown_and_once_known_not_taken_it_is_retried(
        self,
        database: Database,
        aliyun: FakeAliyun,
        frozen_clock: FrozenClock,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(get_settings(), "sms_routes", "+86=aliyun")
        aliyun.script = ["500-before"]
        _queue(database)
        worker = Worker(database)
        worker.drain()
        assert _get(database).status == "unknown"
        for _ in range(4):
            frozen_clock.advance(minutes=3)
            worker.drain()
        assert len(aliyun.sent) == 1
        assert _get(database).status == "sent"


class TestStartUp:
    def test_a_message_type_without_a_template_is_a_start_up_error(
        self, aliyun: FakeAliyun, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        templates: dict[str, Any] = dict(get_settings().aliyun_sms_templates)
        del templates["password_reset_code"]
        monkeypatch.setattr(get_settings(), "aliyun_sms_templates", templates)
        with pytest.raises(
            checks.SmsMisconfigured, match=r"ROAMCARD_ALIYUN_SMS_TEMPLATES.*password_reset_code"
        ):
            checks.check_sms_settings(get_settings())

    def test_every_message_type_has_a_template_here(self, aliyun: FakeAliyun) -> None:
        assert [p for p in checks.problems(get_settings()) if "ALIYUN" in p] == []
