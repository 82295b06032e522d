"""Routing and failover across the three real providers, each answered by its protocol-faithful fake:
Alibaba Cloud refuses the request's signature, Twilio throttles, the SMSC takes it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.worker import Worker
from roamcard.models import Notification, StateTransition
from roamcard.notification import checks, service
from roamcard.notification.providers import install
from roamcard.notification.providers.aliyun import AliyunSmsProvider
from roamcard.notification.providers.smpp import SmppProvider
from roamcard.notification.providers.twilio import TwilioSmsProvider
from tests.factories import make_card
from tests.notification.aliyun_fake import ACCESS_KEY_ID, FakeAliyun
from tests.notification.smsc import PASSWORD, SYSTEM_ID, FakeSmsc
from tests.notification.test_twilio import ACCOUNT_SID, AUTH_TOKEN, SERVICE_SID, FakeTwilioApi


@pytest.fixture
def three(
    monkeypatch: pytest.MonkeyPatch, database: Database
) -> Iterator[tuple[FakeAliyun, FakeTwilioApi, FakeSmsc]]:
    aliyun, twilio, smsc = FakeAliyun(), FakeTwilioApi(), FakeSmsc()
    endpoint, port = aliyun.start(), smsc.start()
    settings = get_settings()
    for name, value in {
        "sms_routes": "+86=aliyun,twilio,smpp; *=twilio,smpp",
        "aliyun_sms_access_key_id": ACCESS_KEY_ID,
        "aliyun_sms_access_key_secret": SecretStr("a-wrong-secret"),  # every request's signature fails
        "aliyun_sms_sign_name": "远游卡",
        "aliyun_sms_endpoint": endpoint,
        "aliyun_sms_templates": {name: "SMS_1" for name in checks.message_types()},
        "twilio_account_sid": ACCOUNT_SID,
        "twilio_auth_token": SecretStr(AUTH_TOKEN),
        "twilio_messaging_service_sid": SERVICE_SID,
    }.items():
        monkeypatch.setattr(settings, name, value)
    install("aliyun", AliyunSmsProvider.from_settings(protocol="HTTP"))
    install("twilio", TwilioSmsProvider.from_settings(http_client=twilio))
    smpp = SmppProvider(
        host="127.0.0.1",
        port=port,
        system_id=SYSTEM_ID,
        password=PASSWORD,
        source_addr="Roamcard",
        on_receipt=lambda ref, report, phone: service.record_receipt("smpp", ref, report, phone) and None,
    )
    install("smpp", smpp)
    yield aliyun, twilio, smsc
    smpp.close()
    aliyun.stop()
    smsc.stop()


def test_a_chinese_number_fails_over_from_aliyun_through_twilio_to_smpp_and_arrives_once(
    database: Database, three: tuple[FakeAliyun, FakeTwilioApi, FakeSmsc]
) -> None:
    aliyun, twilio, smsc = three
    twilio.script = ["20429"]  # Too Many Requests: certainly not taken
    with database.transaction() as session:
        card = make_card(session, phone="+8613812345678")
        service.queue_sms(session, card, "password_changed", key="m:1", card_tail="5678")
    Worker(database).drain()
    assert smsc.wait_for(lambda: smsc.receipts_acknowledged == 1)
    for _ in range(200):  # the receipt is acknowledged to the SMSC before its row is committed
        with database.reading() as session:
            if session.scalars(select(Notification)).one().status == "delivered":
                break
        time.sleep(0.05)

    with database.reading() as session:
        stored = session.scalars(select(Notification)).one()
        reasons = [
            t.reason
            for t in session.scalars(
                select(StateTransition)
                .where(StateTransition.entity_type == "sms")
                .order_by(StateTransition.id)
            )
        ]
    assert (stored.status, stored.provider) == ("delivered", "smpp")
    assert aliyun.refused_signatures == 1
    assert aliyun.sent == []
    assert twilio.messages == {}
    assert [a.destination for a in smsc.accepted] == ["8613812345678"]
    assert "failover:aliyun:SignatureDoesNotMatch" in reasons
    assert "failover:twilio:20429" in reasons
