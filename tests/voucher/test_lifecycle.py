from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.jobs.sweepers import build_worker
from roamcard.kit.clock import FrozenClock
from roamcard.models import StateTransition, Voucher, VoucherOperation
from roamcard.voucher import repository
from roamcard.voucher.service import lifecycle
from roamcard.voucher.states import RangeAction
from tests.voucher.support import (
    MadeBatch,
    assert_books_balance,
    batch_row,
    change,
    derived_balance,
    liability,
    make_batch,
)

runner = CliRunner()


def statuses(database: Database, made: MadeBatch) -> list[str]:
    with database.reading() as session:
        found = {v.id: v.status for v in session.scalars(select(Voucher).where(Voucher.batch_id == made.id))}
    return [found[s] for s in made.serials]


def history(database: Database, serial: str) -> list[tuple[str | None, str, str | None]]:
    with database.reading() as session:
        return [(t.from_status, t.to_status, t.reason) for t in repository.history(session, serial)]


def active_face_value(database: Database) -> dict[str, int]:
    with database.reading() as session:
        return repository.active_face_value_by_currency(session)


class TestActivationByRange:
    def test_only_the_range_is_activated_and_each_change_is_recorded_with_who_and_when(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        made = make_batch(database, count=10, activate=False)
        with database.transaction() as session:
            batch = lifecycle.get_batch(session, made.name)
            operation = lifecycle.change_range(
                session, batch, RangeAction.ACTIVATE, made.serials[2], made.serials[4], actor="cli:alice"
            )
            op_id = operation.id
        assert statuses(database, made) == ["generated"] * 2 + ["active"] * 3 + ["generated"] * 5
        with database.reading() as session:
            op = session.get(VoucherOperation, op_id)
        assert op is not None
        assert (op.action, op.actor, op.changed_count, op.at) == ("activate", "cli:alice", 3, frozen_clock())
        assert (op.serial_first, op.serial_last) == (made.serials[2], made.serials[4])
        assert history(database, made.serials[3]) == [
            ("generated", "active", f"op {op_id}: activate by cli:alice")
        ]
        assert history(database, made.serials[5]) == []
        # The liability is exactly the face value of the active vouchers.
        assert liability(database) == 3 * 1000 == active_face_value(database)["USD"]
        assert derived_balance(database, "operator:voucher_issued:USD") == -3000
        assert_books_balance(database)

    def test_an_overlapping_range_changes_only_what_is_not_active_yet(self, database: Database) -> None:
        made = make_batch(database, count=10, activate=False)
        assert change(database, made, RangeAction.ACTIVATE, 2, 4) == 3
        assert change(database, made, RangeAction.ACTIVATE, 3, 6) == 2
        assert statuses(database, made).count("active") == 5
        assert liability(database) == 5000
        assert len(history(database, made.serials[3])) == 1
        assert_books_balance(database)

    def test_a_range_outside_the_batch_or_an_expired_batch_is_refused(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        made = make_batch(database, count=3, activate=False, expires_in_days=10)
        other = make_batch(database, count=3, activate=False)
        with database.transaction() as session:
            batch = lifecycle.get_batch(session, made.name)
            with pytest.raises(lifecycle.BatchProblem, match="not within batch"):
                lifecycle.change_range(
                    session, batch, RangeAction.ACTIVATE, made.serials[0], other.serials[0], actor="t"
                )
        frozen_clock.advance(days=12)
        with database.transaction() as session:
            batch = lifecycle.get_batch(session, made.name)
            with pytest.raises(lifecycle.BatchProblem, match="has expired"):
                lifecycle.change_range(
                    session, batch, RangeAction.ACTIVATE, made.serials[0], made.serials[-1], actor="t"
                )
        assert statuses(database, made) == ["generated"] * 3


class TestBlocking:
    def test_blocking_a_range_releases_the_liability_of_its_active_vouchers_only(
        self, database: Database
    ) -> None:
        made = make_batch(database, count=8, activate=False)
        change(database, made, RangeAction.ACTIVATE, 0, 3)  # 0-3 active, 4-7 generated
        assert liability(database) == 4000
        assert change(database, made, RangeAction.BLOCK, 2, 5) == 4  # two active, two generated
        assert statuses(database, made) == ["active"] * 2 + ["blocked"] * 4 + ["generated"] * 2
        assert liability(database) == 2000 == active_face_value(database)["USD"]
        assert derived_balance(database, "operator:voucher_blocked:USD") == 2000
        assert change(database, made, RangeAction.ACTIVATE, 0, 7) == 2  # blocked stays blocked
        assert statuses(database, made).count("blocked") == 4
        assert liability(database) == 4000 == active_face_value(database)["USD"]
        assert_books_balance(database)


class TestExpiry:
    def test_the_sweeper_expires_a_lapsed_batch_and_books_breakage(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        made = make_batch(database, count=6, activate=False, expires_in_days=30)
        change(database, made, RangeAction.ACTIVATE, 0, 3)
        kept = make_batch(database, count=2, expires_in_days=90)
        frozen_clock.advance(days=29)
        build_worker(database).sweep_if_due()
        assert set(statuses(database, made)) == {"active", "generated"}
        frozen_clock.advance(days=2)
        with database.transaction() as session:
            assert lifecycle.expire_lapsed(session, limit=4) == 4  # one chunk of serials at a time
        with database.transaction() as session:
            assert lifecycle.expire_lapsed(session, limit=4) == 2
        with database.transaction() as session:
            assert lifecycle.expire_lapsed(session, limit=4) == 0  # marks the batch swept, nothing else to do
        assert statuses(database, made) == ["expired"] * 6
        assert statuses(database, kept) == ["active"] * 2
        assert batch_row(database, made).expiry_swept_at is not None
        assert derived_balance(database, "operator:voucher_breakage:USD") == 4000
        assert liability(database) == 2000 == active_face_value(database)["USD"]
        with database.reading() as session:
            reasons = {t.reason for t in session.scalars(select(StateTransition)) if t.to_status == "expired"}
        assert all(r is not None and r.endswith("expire by system:expiry") for r in reasons)
        assert_books_balance(database)

    def test_a_lapsed_batch_with_nothing_live_does_not_hold_up_the_next(
        self, database: Database, frozen_clock: FrozenClock
    ) -> None:
        done = make_batch(database, count=2, expires_in_days=5)
        change(database, done, RangeAction.BLOCK)
        later = make_batch(database, count=3, expires_in_days=6)
        frozen_clock.advance(days=8)
        with database.transaction() as session:
            assert lifecycle.expire_lapsed(session) == 3
        assert statuses(database, later) == ["expired"] * 3
        assert batch_row(database, done).expiry_swept_at is not None
        assert liability(database) == 0
        assert_books_balance(database)


class TestCommands:
    def invoke(self, *args: str) -> Any:
        return runner.invoke(app, ["vouchers", *args])

    def test_activate_block_and_status_from_the_command_line(self, database: Database) -> None:
        made = make_batch(database, count=6, activate=False)
        serials = made.serials
        result = self.invoke(
            "activate", "--batch", made.name, "--serials", f"{serials[0]}-{serials[3]}", "--by", "bo"
        )
        assert result.exit_code == 0, result.output
        assert "activate: 4 recharge cards changed" in result.output
        result = self.invoke("block", "--batch", made.name, "--serials", serials[1], "--reason", "box stolen")
        assert result.exit_code == 0, result.output
        assert statuses(database, made) == ["active", "blocked", "active", "active", "generated", "generated"]
        status = self.invoke("status", serials[1])
        assert status.exit_code == 0, status.output
        assert "blocked" in status.output
        assert "activate by cli:bo" in status.output
        summary = runner.invoke(app, ["vouchers", "batch", made.name])
        assert summary.exit_code == 0, summary.output
        assert "active 3, blocked 1, generated 2" in summary.output
        assert "box stolen" in summary.output
        assert liability(database) == 3000
        assert_books_balance(database)

    def test_a_whole_batch_is_activated_in_chunks(self, database: Database, monkeypatch: Any) -> None:
        import roamcard.cli

        monkeypatch.setattr(roamcard.cli, "RANGE_CHUNK", 3)
        made = make_batch(database, count=8, activate=False)
        result = self.invoke("activate", "--batch", made.name)
        assert result.exit_code == 0, result.output
        assert statuses(database, made) == ["active"] * 8
        with database.reading() as session:
            ops = repository.operations(session, made.id)
        assert [op.changed_count for op in ops] == [3, 3, 2]
        assert liability(database) == 8000

    @pytest.mark.parametrize(
        "args",
        [
            ["activate", "--batch", "nope"],
            ["activate", "--batch", "{batch}", "--serials", "12-34"],
            ["activate", "--batch", "{batch}", "--serials", "{last}-{first}"],
            ["block", "--batch", "{batch}", "--serials", "99999999999999"],
            ["status", "00000000000000"],
        ],
    )
    def test_bad_requests_exit_2_and_change_nothing(self, database: Database, args: list[str]) -> None:
        made = make_batch(database, count=3, activate=False)
        values = {"batch": made.name, "first": made.serials[0], "last": made.serials[-1]}
        result = self.invoke(*[a.format(**values) for a in args])
        assert result.exit_code == 2, result.output
        assert statuses(database, made) == ["generated"] * 3
