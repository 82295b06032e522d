from __future__ import annotations

import csv
import hashlib
import io
import itertools
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from roamcard.cli import app
from roamcard.db import Database
from roamcard.kit import clock
from roamcard.kit.clock import FrozenClock
from roamcard.models import LedgerTransfer, Voucher, VoucherBatch
from roamcard.voucher import codes
from roamcard.voucher.service import lifecycle
from roamcard.voucher.service.generate import BatchSpec, generate_batch
from roamcard.voucher.service.lifecycle import BatchProblem
from roamcard.voucher.states import BatchStatus, RangeAction
from tests.factories import make_catalog
from tests.voucher.support import change, count_rows, make_batch

runner = CliRunner()


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def expires() -> str:
    return (clock.now().date() + timedelta(days=400)).isoformat()


class TestGenerateCommand:
    def test_writes_serial_and_pin_once_and_stores_only_keyed_hashes(
        self, database: Database, tmp_path: Path, frozen_clock: FrozenClock
    ) -> None:
        out = tmp_path / "batch.csv"
        args = ["--batch", "B1", "--count", "25", "--face-value", "1000", "--currency", "USD"]
        result = runner.invoke(
            app, ["vouchers", "generate", *args, "--expires", expires(), "--out", str(out), "--by", "alice"]
        )
        assert result.exit_code == 0, result.output
        rows = read_csv(out)
        assert rows[0] == ["serial", "pin"]
        serials = [serial for serial, _ in rows[1:]]
        pins = [pin for _, pin in rows[1:]]
        assert len(rows) == 26
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        with database.reading() as session:
            batch = session.scalars(select(VoucherBatch).where(VoucherBatch.name == "B1")).one()
            stored = {v.id: v for v in session.scalars(select(Voucher).where(Voucher.batch_id == batch.id))}
        # Serials: public, fixed width, sequential within the batch.
        assert serials == [codes.serial(batch.id, n) for n in range(1, 26)]
        assert (batch.serial_first, batch.serial_last) == (serials[0], serials[-1])
        assert all(len(s) == codes.SERIAL_DIGITS for s in serials)
        # PINs: 16 digits, distinct, stored only as HMAC-SHA256 under the pepper (not a bare hash).
        assert all(len(p) == 16 and p.isdigit() for p in pins)
        assert len(set(pins)) == 25
        for serial, pin in zip(serials, pins, strict=True):
            assert stored[serial].pin_hash == codes.hash_pin(pin)
            assert stored[serial].pin_hash != hashlib.sha256(pin.encode()).digest()
            assert pin.encode() not in stored[serial].pin_hash
        assert {v.status for v in stored.values()} == {"generated"}
        # The bulk path stores timestamps exactly as the ORM does (on SQLite: the same text).
        assert {v.updated_at for v in stored.values()} == {frozen_clock()} == {batch.created_at}
        same_instant = select(func.count()).where(Voucher.updated_at == VoucherBatch.created_at)
        with database.reading() as session:
            assert session.scalar(same_instant) == 25
        assert (batch.status, batch.generated_count, batch.created_by) == ("ready", 25, "cli:alice")
        assert batch.face_value_amount == 1000
        assert batch.grants == [{"asset": "USD", "amount": 1000}]
        # Generating creates no value: nothing in the ledger until activation.
        assert count_rows(database, LedgerTransfer) == 0

    def test_a_pack_from_the_catalogue_takes_its_price_as_face_value(
        self, database: Database, tmp_path: Path
    ) -> None:
        with database.transaction() as session:
            make_catalog(session)
        out = tmp_path / "data.csv"
        result = runner.invoke(
            app,
            [
                "vouchers",
                "generate",
                "--batch",
                "DATA5",
                "--count",
                "3",
                "--product",
                "data-5gb-30d",
                "--currency",
                "CNY",
                "--expires",
                expires(),
                "--out",
                str(out),
            ],
        )
        assert result.exit_code == 0, result.output
        with database.reading() as session:
            batch = session.scalars(select(VoucherBatch).where(VoucherBatch.name == "DATA5")).one()
        assert (batch.face_value_amount, batch.face_value_currency) == (10800, "CNY")
        assert batch.grants == [{"asset": "DATA_BYTES", "amount": 5 * 1024**3}]
        assert (batch.product_id, batch.validity_days) == ("data-5gb-30d", 30)

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            (["--face-value", "1000", "--product", "data-5gb-30d"], "either --face-value or --product"),
            ([], "either --face-value or --product"),
            (["--product", "no-such-pack"], "no active product"),
            (["--product", "balance-custom"], "no fixed value"),
            (["--face-value", "0"], "positive amount"),
            (["--face-value", "1000", "--dealer", "dlr_nobody"], "no dealer"),
        ],
    )
    def test_bad_options_exit_2_and_leave_nothing(
        self, database: Database, tmp_path: Path, extra: list[str], message: str
    ) -> None:
        with database.transaction() as session:
            make_catalog(session)
        out = tmp_path / "bad.csv"
        base = ["vouchers", "generate", "--batch", "X", "--count", "5", "--currency", "USD"]
        result = runner.invoke(app, [*base, "--expires", expires(), "--out", str(out), *extra])
        assert result.exit_code == 2
        assert message in result.output
        assert not out.exists()
        assert count_rows(database, VoucherBatch) == 0

    def test_an_expiry_in_the_past_and_a_taken_name_are_refused(
        self, database: Database, tmp_path: Path
    ) -> None:
        base = ["vouchers", "generate", "--count", "2", "--face-value", "500", "--currency", "USD"]
        past = (clock.now().date() - timedelta(days=2)).isoformat()
        result = runner.invoke(app, [*base, "--batch", "P", "--expires", past, "--out", str(tmp_path / "p")])
        assert (result.exit_code, "in the future" in result.output) == (2, True)
        ok = runner.invoke(app, [*base, "--batch", "T", "--expires", expires(), "--out", str(tmp_path / "t")])
        assert ok.exit_code == 0, ok.output
        again = runner.invoke(
            app, [*base, "--batch", "T", "--expires", expires(), "--out", str(tmp_path / "u")]
        )
        assert (again.exit_code, "already exists" in again.output) == (2, True)

    def test_an_existing_pin_file_is_never_overwritten(self, database: Database, tmp_path: Path) -> None:
        out = tmp_path / "pins.csv"
        out.write_text("precious\n")
        base = [
            "vouchers",
            "generate",
            "--batch",
            "O",
            "--count",
            "2",
            "--face-value",
            "500",
            "--currency",
            "USD",
        ]
        result = runner.invoke(app, [*base, "--expires", expires(), "--out", str(out)])
        assert result.exit_code == 2
        assert out.read_text() == "precious\n"
        assert count_rows(database, VoucherBatch) == 0


class TestGenerator:
    def test_colliding_pins_are_drawn_again(self, database: Database) -> None:
        """A PIN whose hash exists (in an earlier chunk or the same one) is replaced before it is written."""
        repeated = itertools.chain(["1111222233334444"] * 5, (f"{n:016d}" for n in itertools.count(7)))
        out = io.StringIO()
        spec = BatchSpec(
            name="collide",
            count=9,
            currency="USD",
            expires_on=clock.now().date() + timedelta(days=30),
            face_value=100,
        )
        generate_batch(database, spec, out, chunk_size=3, new_pin=lambda: next(repeated))
        rows = list(csv.reader(io.StringIO(out.getvalue())))[1:]
        pins = [pin for _, pin in rows]
        assert len(rows) == 9
        assert len(set(pins)) == 9
        assert pins.count("1111222233334444") == 1
        with database.reading() as session:
            stored = {v.id: v.pin_hash for v in session.scalars(select(Voucher))}
        assert stored == {serial: codes.hash_pin(pin) for serial, pin in rows}

    def test_a_run_that_stops_half_way_leaves_a_batch_that_cannot_be_activated(
        self, database: Database
    ) -> None:
        drawn = itertools.count()

        def failing_pin() -> str:
            if next(drawn) == 7:
                raise RuntimeError("power cut")
            return codes.new_pin()

        out = io.StringIO()
        spec = BatchSpec(
            name="half",
            count=10,
            currency="USD",
            expires_on=clock.now().date() + timedelta(days=30),
            face_value=100,
        )
        with pytest.raises(RuntimeError, match="power cut"):
            generate_batch(database, spec, out, chunk_size=4, new_pin=failing_pin)
        with database.reading() as session:
            batch = session.scalars(select(VoucherBatch).where(VoucherBatch.name == "half")).one()
        assert (batch.status, batch.generated_count) == (BatchStatus.GENERATING.value, 4)
        assert len(out.getvalue().splitlines()) == 1 + 4  # only committed vouchers were written out
        with database.transaction() as session:
            whole = (batch.serial_first, batch.serial_last)
            with pytest.raises(BatchProblem, match="not generated completely"):
                lifecycle.change_range(session, batch, RangeAction.ACTIVATE, *whole, actor="test")

    def test_test_batches_activate_whole(self, database: Database) -> None:
        made = make_batch(database, count=3)
        assert change(database, made, RangeAction.ACTIVATE) == 0  # already active: nothing changes twice
