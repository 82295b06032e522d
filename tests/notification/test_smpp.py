from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.jobs.worker import Worker
from roamcard.kit.clock import FrozenClock
from roamcard.models import Notification
from roamcard.notification import service
from roamcard.notification.providers import install
from roamcard.notification.providers.base import OutgoingSms
from roamcard.notification.providers.smpp import SmppProvider
from tests.factories import make_card
from tests.notification.smsc import PASSWORD, SYSTEM_ID, FakeSmsc


@pytest.fixture
def smsc() -> Iterator[FakeSmsc]:
    server = FakeSmsc()
    server.port = server.start()  # type: ignore[attr-defined]
    yield server
    server.stop()


def _provider(smsc: FakeSmsc, *, with_database: bool) -> SmppProvider:
    return SmppProvider(
        host="127.0.0.1",
        port=smsc.port,  # type: ignore[attr-defined]
        system_id=SYSTEM_ID,
        password=PASSWORD,
        source_addr="Roamcard",
        window=3,
        enquire_link_seconds=30,
        timeout_seconds=10,
        receipt_window_seconds=3600,
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.2,
        on_receipt=(
            (lambda ref, report, phone: service.record_receipt("smpp", ref, report, phone) and None)
            if with_database
            else None
        ),
    )


@pytest.fixture
def provider(smsc: FakeSmsc, monkeypatch: pytest.MonkeyPatch, database: Database) -> Iterator[SmppProvider]:
    monkeypatch.setattr(get_settings(), "sms_routes", "*=smpp")
    smpp = _provider(smsc, with_database=True)
    install("smpp", smpp)
    yield smpp
    smpp.close()


@pytest.fixture
def bare(smsc: FakeSmsc) -> Iterator[SmppProvider]:
    """The provider alone, its receipts going nowhere."""
    smpp = _provider(smsc, with_database=False)
    yield smpp
    smpp.close()


def _queue(database: Database, count: int) -> list[str]:
    keys = []
    with database.transaction() as session:
        for index in range(count):
            card = make_card(session, phone=f"+1415555{index:04d}", language="en")
            key = f"msg:{index}"
            service.queue_sms(session, card, "password_changed", key=key, card_tail=f"{index:04d}")
            keys.append(key)
    return keys


def _statuses(database: Database) -> dict[str, str]:
    with database.reading() as session:
        return {n.key: n.status for n in session.scalars(select(Notification))}


def _message(text: str, phone: str = "+8613800138000") -> OutgoingSms:
    return OutgoingSms(
        reference="r", phone=phone, text=text, masked_text=text, template="t", language="zh-CN"
    )


class TestSession:
    def test_a_message_is_submitted_and_its_receipt_delivers_it(
        self, database: Database, smsc: FakeSmsc, provider: SmppProvider
    ) -> None:
        _queue(database, 1)
        Worker(database).drain()
        assert smsc.wait_for(lambda: smsc.receipts_acknowledged == 1)

        with database.reading() as session:
            stored = session.scalars(select(Notification)).one()
        assert (stored.status, stored.provider, stored.provider_reference) == (
            "delivered",
            "smpp",
            smsc.accepted[0].message_id,
        )
        [accepted] = smsc.accepted
        assert accepted.destination == "14155550000"
        assert accepted.data_coding == 0
        assert accepted.short_message.startswith(b"\x1b<Roamcard\x1b>")  # GSM 03.38: [ and ] are escapes

    def test_a_long_chinese_text_goes_in_ucs2_parts_with_a_concatenation_header(
        self, smsc: FakeSmsc, bare: SmppProvider
    ) -> None:
        provider = bare
        text = "【远游卡】" + "您的充值已完成，流量包已到账。" * 6  # 95 characters: two UCS-2 parts
        message_id = provider.send(_message(text))
        assert len(smsc.accepted) == 2
        assert message_id == smsc.accepted[0].message_id
        first, second = smsc.accepted
        assert (first.data_coding, first.esm_class & 0x40) == (8, 0x40)
        assert first.short_message[:3] == b"\x05\x00\x03"
        assert first.short_message[4:6] == b"\x02\x01"
        assert second.short_message[4:6] == b"\x02\x02"
        assert (first.short_message[6:] + second.short_message[6:]).decode("utf-16-be") == text

    def test_refused_binds_are_retried_with_backoff_until_one_succeeds(
        self, smsc: FakeSmsc, bare: SmppProvider
    ) -> None:
        provider = bare
        smsc.refuse_binds = 3
        assert provider.send(_message("Hello")) == smsc.accepted[0].message_id
        assert smsc.refused == 3
        assert smsc.binds == 1

    def test_query_sm_tells_what_became_of_a_message(self, smsc: FakeSmsc, bare: SmppProvider) -> None:
        provider = bare
        from datetime import UTC, datetime

        from roamcard.notification.providers.base import Lookup

        message_id = provider.send(_message("Hello"))
        report = provider.query(Lookup("r", "+8613800138000", message_id, datetime.now(UTC)))
        assert report.state == "delivered"


class TestDroppedSession:
    def test_a_batch_cut_in_the_middle_ends_delivered_exactly_once(
        self, database: Database, smsc: FakeSmsc, provider: SmppProvider, frozen_clock: FrozenClock
    ) -> None:
        keys = _queue(database, 10)
        smsc.drop_at_submit = 5
        senders = [threading.Thread(target=service.send, args=(database, key)) for key in keys]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
        assert smsc.binds == 2  # reconnected after the drop
        after_drop = _statuses(database)
        assert "unknown" in after_drop.values()  # went out, never answered
        assert set(after_drop.values()) <= {"sent", "delivered", "unknown"}

        # No receipt within the window: the SMSC never took those; they go once more.
        worker = Worker(database)
        for _ in range(6):
            frozen_clock.advance(hours=2)
            worker.drain()
        # Loaded machine: a resend can still be on the wire when a drain ends; drain again (no time passes).
        for _ in range(10):
            if smsc.wait_for(lambda: len(smsc.accepted) == 10 and not smsc.unacknowledged, timeout=2):
                break
            worker.drain()
        assert smsc.wait_for(lambda: len(smsc.accepted) == 10 and not smsc.unacknowledged)
        assert smsc.wait_for(lambda: set(_statuses(database).values()) == {"delivered"}, timeout=10)
        destinations = sorted(a.destination for a in smsc.accepted)
        assert destinations == sorted({a.destination for a in smsc.accepted})
        assert len(destinations) == 10
