from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from roamcard import keys
from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.jobs.worker import Worker
from roamcard.kit.clock import FrozenClock
from roamcard.models import Card, Job, Notification, StateTransition
from roamcard.notification import service
from roamcard.notification.providers import install
from roamcard.notification.routing import InvalidRoutes, parse_routes, route_for
from tests.factories import make_card, sms_text
from tests.logs import captured_logs
from tests.notification.conftest import FakeProvider

CODE = "493817"


@dataclass(frozen=True)
class _Recipient:
    id: int
    phone: str
    language: str


def _card(database: Database, phone: str = "+8613800138000") -> Card:
    with database.transaction() as session:
        card = make_card(session, phone=phone)
        session.expunge(card)
    return card


def _queue_code(database: Database, card: Card, key: str = "code:1", code: str = CODE) -> None:
    with database.transaction() as session:
        fresh = session.get(Card, card.id)
        assert fresh is not None
        service.queue_sms(
            session, fresh, "phone_change_code", key=key, code=code, card_tail="0000", minutes=10
        )


def _queue_plain(database: Database, card: Card, key: str = "plain:1") -> None:
    with database.transaction() as session:
        fresh = session.get(Card, card.id)
        assert fresh is not None
        service.queue_sms(session, fresh, "password_changed", key=key, card_tail="0000")


def _get(database: Database, key: str) -> Notification:
    with database.reading() as session:
        found = session.scalars(select(Notification).where(Notification.key == key)).one()
        session.expunge(found)
        return found


def _history(database: Database, notification: Notification) -> list[tuple[str | None, str, str | None]]:
    with database.reading() as session:
        rows = session.scalars(
            select(StateTransition)
            .where(StateTransition.entity_type == "sms", StateTransition.entity_id == str(notification.id))
            .order_by(StateTransition.id)
        )
        return [(row.from_status, row.to_status, row.reason) for row in rows]


def _run(database: Database, frozen_clock: FrozenClock | None = None, rounds: int = 4) -> None:
    worker = Worker(database)
    for _ in range(rounds):
        worker.drain()
        if frozen_clock is not None:
            frozen_clock.advance(minutes=10)


class TestSecretsAreNeverStoredInClear:
    def test_the_body_masks_the_code_and_the_secret_column_is_encrypted(self, database: Database) -> None:
        card = _card(database)
        _queue_code(database, card)

        stored = _get(database, "code:1")
        assert CODE not in stored.body
        assert "******" in stored.body
        assert stored.secret is not None
        assert CODE not in stored.secret
        assert CODE not in str(stored.params)
        assert keys.decrypt("message-secret", stored.secret, context=b"notification:code:1") == CODE
        assert CODE in sms_text(stored)

    def test_the_ciphertext_does_not_open_for_another_message(self, database: Database) -> None:
        card = _card(database)
        _queue_code(database, card)
        stored = _get(database, "code:1")
        with pytest.raises(ValueError, match="does not open"):
            keys.decrypt("message-secret", stored.secret or "", context=b"notification:code:2")

    def test_the_phone_gets_the_code_and_the_secret_is_deleted_once_sent(
        self, database: Database, no_demo: None
    ) -> None:
        provider = FakeProvider("console")
        install("console", provider)
        card = _card(database)
        _queue_code(database, card)

        _run(database)

        assert CODE in provider.taken[0].text
        assert CODE not in provider.taken[0].masked_text
        stored = _get(database, "code:1")
        assert stored.status == "sent"
        assert stored.secret is None
        assert service.full_text(stored) is None

    def test_the_console_provider_never_logs_the_code(
        self,
        database: Database,
        caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str],
        frozen_clock: FrozenClock,
    ) -> None:
        card = _card(database)
        caplog.set_level(logging.DEBUG)
        with captured_logs() as events:
            _queue_code(database, card)
            _run(database, frozen_clock)

        assert _get(database, "code:1").status == "delivered"
        captured = capsys.readouterr()
        assert CODE not in caplog.text + captured.out + captured.err + repr(events)
        [logged] = [event for event in events if event["event"] == "sms.console"]
        assert "******" in logged["body"]

    def test_a_new_cards_password_waits_until_the_order_page_showed_it_once(
        self, database: Database, no_demo: None
    ) -> None:
        card = _card(database)
        with database.transaction() as session:
            fresh = session.get(Card, card.id)
            assert fresh is not None
            service.queue_sms(
                session,
                fresh,
                "card_issued",
                key="issued:1",
                secret_until_shown=True,
                card_number=fresh.card_number,
                password="73190264",
            )
        _run(database)
        assert _get(database, "issued:1").secret is not None  # sent, but not shown yet

        with database.transaction() as session:
            assert service.reveal_secret_once(session, "issued:1") == "73190264"
        with database.transaction() as session:
            assert service.reveal_secret_once(session, "issued:1") is None
        assert _get(database, "issued:1").secret is None

    def test_a_password_shown_while_the_provider_was_called_is_deleted_once_sent(
        self, database: Database, no_demo: None
    ) -> None:
        class ShownMeanwhile(FakeProvider):
            def send(self, message: Any) -> str:
                with database.transaction() as session:
                    assert service.reveal_secret_once(session, "issued:1") == "73190264"
                return super().send(message)

        install("console", ShownMeanwhile("console"))
        card = _card(database)
        with database.transaction() as session:
            fresh = session.get(Card, card.id)
            assert fresh is not None
            service.queue_sms(
                session,
                fresh,
                "card_issued",
                key="issued:1",
                secret_until_shown=True,
                card_number=fresh.card_number,
                password="73190264",
            )
        service.send(database, "issued:1")
        stored = _get(database, "issued:1")
        assert (stored.status, stored.secret) == ("sent", None)

    def test_demo_mode_shows_the_whole_text_and_otherwise_only_the_masked_body(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from roamcard.config import get_settings

        card = _card(database)
        _queue_code(database, card)
        stored = _get(database, "code:1")
        assert CODE in service.readable_text(stored)
        monkeypatch.setattr(get_settings(), "environment", "production")
        assert CODE not in service.readable_text(stored)


class TestStates:
    def test_a_message_goes_queued_sending_sent_delivered_with_its_history(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        install("console", FakeProvider("console", query_answer="delivered"))
        card = _card(database)
        _queue_plain(database, card)
        _run(database, frozen_clock)

        stored = _get(database, "plain:1")
        assert (stored.status, stored.provider, stored.provider_reference) == (
            "delivered",
            "console",
            "console-1",
        )
        assert [(a, b) for a, b, _ in _history(database, stored)] == [
            (None, "queued"),
            ("queued", "sending"),
            ("sending", "sent"),
            ("sent", "delivered"),
        ]

    def test_a_certain_refusal_fails_the_message_with_its_reason_and_tries_no_other(
        self, database: Database, routes: Any
    ) -> None:
        routes("*=twilio,smpp")
        first, second = FakeProvider("twilio", ["rejected"]), FakeProvider("smpp")
        install("twilio", first)
        install("smpp", second)
        card = _card(database, phone="+14155550123")
        _queue_plain(database, card)
        _run(database)

        stored = _get(database, "plain:1")
        assert (stored.status, stored.error_code) == ("failed", "invalid_number")
        assert second.attempts == 0

    def test_a_provider_that_certainly_did_not_take_it_fails_over_to_the_next(
        self, database: Database, routes: Any
    ) -> None:
        routes("+86=aliyun,twilio; *=twilio")
        aliyun, twilio = FakeProvider("aliyun", ["not_accepted"]), FakeProvider("twilio")
        install("aliyun", aliyun)
        install("twilio", twilio)
        card = _card(database)
        _queue_plain(database, card)
        _run(database)

        stored = _get(database, "plain:1")
        assert (stored.provider, stored.status) == ("twilio", "sent")
        assert len(aliyun.taken) == 0
        assert len(twilio.taken) == 1
        assert ("sending", "queued", "failover:aliyun:throttled") in _history(database, stored)

    def test_an_uncertain_send_is_unknown_then_settled_by_asking_and_never_sent_twice(
        self, database: Database, routes: Any, frozen_clock: FrozenClock
    ) -> None:
        routes("*=aliyun,twilio")
        aliyun, twilio = FakeProvider("aliyun", ["taken-lost"]), FakeProvider("twilio")
        install("aliyun", aliyun)
        install("twilio", twilio)
        card = _card(database)
        _queue_plain(database, card)
        Worker(database).drain()
        assert _get(database, "plain:1").status == "unknown"

        _run(database, frozen_clock)

        stored = _get(database, "plain:1")
        assert (stored.status, stored.provider, stored.provider_reference) == ("sent", "aliyun", "aliyun-1")
        assert aliyun.attempts == 1
        assert twilio.attempts == 0

    def test_an_unknown_send_known_not_taken_goes_to_the_next_provider_once(
        self, database: Database, routes: Any, frozen_clock: FrozenClock
    ) -> None:
        routes("*=aliyun,twilio")
        aliyun, twilio = FakeProvider("aliyun", ["uncertain"]), FakeProvider("twilio")
        install("aliyun", aliyun)
        install("twilio", twilio)
        card = _card(database)
        _queue_plain(database, card)
        _run(database, frozen_clock)

        stored = _get(database, "plain:1")
        assert (stored.status, stored.provider) == ("sent", "twilio")
        assert len(aliyun.taken) + len(twilio.taken) == 1

    def test_a_send_whose_worker_died_is_unknown_and_then_asked_about(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        provider = FakeProvider("console")
        install("console", provider)
        card = _card(database)
        _queue_plain(database, card)
        with database.transaction() as session:
            stored = session.scalars(select(Notification)).one()
            assert service.sms_machine.transition(
                session, stored.id, "queued", "sending", provider="console", attempt_started_at=frozen_clock()
            )
        frozen_clock.advance(minutes=11)
        build_worker(database).sweepers[-1](database)
        assert _get(database, "plain:1").status == "unknown"

        _run(database, frozen_clock)
        # The fake never took it, so asking says "not taken" and it goes out once.
        assert _get(database, "plain:1").status == "sent"
        assert len(provider.taken) == 1

    def test_no_receipt_in_time_expires_a_sent_message(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        install("console", FakeProvider("console", query_answer="accepted"))
        card = _card(database)
        _queue_plain(database, card)
        Worker(database).drain()
        frozen_clock.advance(hours=49)
        build_worker(database).sweepers[-1](database)
        assert _get(database, "plain:1").status == "expired"

    def test_a_route_index_past_the_end_sends_through_the_last_provider(
        self, database: Database, routes: Any
    ) -> None:
        routes("*=twilio,smpp")
        twilio, smpp = FakeProvider("twilio"), FakeProvider("smpp")
        install("twilio", twilio)
        install("smpp", smpp)
        card = _card(database, phone="+14155550123")
        _queue_plain(database, card)
        with database.transaction() as session:
            session.execute(update(Notification).values(route_index=7))
        service.send(database, "plain:1")
        stored = _get(database, "plain:1")
        assert (stored.status, stored.provider, stored.attempts) == ("sent", "smpp", 1)
        assert (len(twilio.taken), len(smpp.taken)) == (0, 1)
        assert _history(database, stored)[1:] == [("queued", "sending", "smpp"), ("sending", "sent", "smpp")]

    def test_no_route_fails_the_message(self, database: Database, routes: Any) -> None:
        routes("+86=console")
        card = _card(database, phone="+14155550123")
        _queue_plain(database, card)
        _run(database)
        assert (_get(database, "plain:1").status, _get(database, "plain:1").error_code) == (
            "failed",
            "no_route",
        )


class TestResend:
    def test_a_failed_message_is_resent_through_its_route(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        provider = FakeProvider("console", ["rejected"], query_answer="delivered")
        install("console", provider)
        card = _card(database)
        _queue_plain(database, card)
        _run(database)
        stored = _get(database, "plain:1")
        assert stored.status == "failed"

        with database.transaction() as session:
            service.resend(session, stored.id)
        _run(database, frozen_clock)
        assert _get(database, "plain:1").status == "delivered"
        assert len(provider.taken) == 1

    def test_only_a_failed_message_can_be_resent(self, database: Database) -> None:
        card = _card(database)
        _queue_plain(database, card)
        with database.transaction() as session, pytest.raises(service.SmsNotResendable):
            service.resend(session, _get(database, "plain:1").id)


class TestPerNumberLimits:
    def test_the_sixth_code_to_one_number_in_an_hour_is_refused_and_not_queued(
        self, database: Database
    ) -> None:
        card = _card(database)
        for index in range(5):
            _queue_code(database, card, key=f"code:{index}")
        with pytest.raises(service.SmsRateLimited) as refused:
            _queue_code(database, card, key="code:6")
        assert refused.value.status_code == 429
        assert refused.value.code == "sms_rate_limited"
        assert int(refused.value.headers["Retry-After"]) > 0
        with database.reading() as session:
            assert len(session.scalars(select(Notification)).all()) == 5

    def test_other_messages_are_not_limited(self, database: Database) -> None:
        card = _card(database)
        for index in range(8):
            _queue_plain(database, card, key=f"plain:{index}")


class TestRoutes:
    def test_the_longest_matching_prefix_wins_and_star_matches_the_rest(self) -> None:
        spec = "*=twilio,smpp; +86=aliyun,twilio; +8613=smpp"
        assert route_for("+8613800138000", spec) == ("smpp",)
        assert route_for("+8615800138000", spec) == ("aliyun", "twilio")
        assert route_for("+14155550123", spec) == ("twilio", "smpp")

    def test_the_default_is_console_everywhere(self) -> None:
        assert route_for("+14155550123", "*=console") == ("console",)

    @pytest.mark.parametrize("spec", ["+86=nexmo", "86=aliyun", "*=", "", "+86 aliyun"])
    def test_a_route_that_cannot_be_read_is_an_error(self, spec: str) -> None:
        with pytest.raises(InvalidRoutes):
            parse_routes(spec)


def test_a_stuck_check_gives_up_an_unknown_message_after_its_time(
    database: Database, frozen_clock: FrozenClock
) -> None:
    install("console", FakeProvider("console", ["uncertain"], query_answer="pending"))
    card = _card(database)
    _queue_plain(database, card)
    Worker(database).drain()
    frozen_clock.advance(hours=25)
    Worker(database).drain()
    build_worker(database).sweepers[-1](database)
    assert _get(database, "plain:1").status == "expired"


class TestExactlyOnce:
    def test_two_workers_racing_on_one_message_send_it_once(self, database: Database) -> None:
        import threading

        provider = FakeProvider("console")
        install("console", provider)
        card = _card(database)
        _queue_plain(database, card)
        start = threading.Barrier(4)

        def race() -> None:
            start.wait()
            service.send(database, "plain:1")

        racers = [threading.Thread(target=race) for _ in range(4)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(30)
        assert len(provider.taken) == 1
        assert _get(database, "plain:1").status == "sent"

    def test_queueing_the_same_key_twice_queues_one_message(self, database: Database) -> None:
        card = _card(database)
        _queue_plain(database, card)
        _queue_plain(database, card)
        with database.reading() as session:
            [stored] = session.scalars(select(Notification)).all()
            jobs = session.scalars(select(Job).where(Job.kind == "notification.send")).all()
            assert [(job.payload, job.status) for job in jobs] == [({"key": "plain:1"}, "queued")]
        assert _history(database, stored) == [(None, "queued", None)]

    def test_a_lean_transaction_queues_for_a_lean_read_of_the_card(self, database: Database) -> None:
        card = _card(database)
        recipient = _Recipient(card.id, card.phone, "en")
        with database.tx() as tx:
            assert service.queue_sms(tx, recipient, "password_changed", key="lean:1", card_tail="0000")
            assert not service.queue_sms(tx, recipient, "password_changed", key="lean:1", card_tail="0000")
        stored = _get(database, "lean:1")
        assert (stored.card_id, stored.language, stored.status, stored.route) == (
            card.id,
            "en",
            "queued",
            "console",
        )
        assert stored.body.startswith("[Roamcard]")


class TestResendCommand:
    def test_the_cli_resends_a_failed_message_and_audits_it(self, database: Database) -> None:
        from typer.testing import CliRunner

        from roamcard.cli import app
        from roamcard.models import AuditEntry

        install("console", FakeProvider("console", ["rejected"]))
        card = _card(database)
        _queue_plain(database, card)
        _run(database)
        stored = _get(database, "plain:1")
        assert stored.status == "failed"

        result = CliRunner().invoke(
            app, ["sms", "resend", str(stored.id), "--reason", "number fixed", "--by", "ops"]
        )
        assert result.exit_code == 0, result.output
        assert _get(database, "plain:1").status == "queued"
        with database.reading() as session:
            entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "sms.resent")).one()
        assert (entry.target_id, entry.reason) == (str(stored.id), "number fixed")

        again = CliRunner().invoke(app, ["sms", "resend", str(stored.id), "--reason", "twice"])
        assert again.exit_code == 2
