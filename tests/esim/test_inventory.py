import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from roamcard import keys
from roamcard.cli import app
from roamcard.config import get_settings
from roamcard.db import Database
from roamcard.esim import confirmation
from roamcard.esim.service import inventory
from roamcard.models import EsimProfile, StateTransition
from tests.factories import make_card, make_esim_profiles, make_iccid

runner = CliRunner()
HEADER = "iccid,imsi,msisdn,smdp_address,matching_id,confirmation_code_required,confirmation_code"


def good_row(serial: int, *, msisdn: str | None = None, code: str = "") -> str:
    number = msisdn if msisdn is not None else f"+1202555{serial:04d}"
    flag = "1" if code else "0"
    imsi = f"31026000000{serial:04d}"
    return f"{make_iccid(serial)},{imsi},{number},smdp.example.com,RC-{serial:06d},{flag},{code}"


def write(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "profiles.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def profiles(database: Database) -> list[EsimProfile]:
    with database.reading() as session:
        return list(session.scalars(select(EsimProfile).order_by(EsimProfile.id)))


class TestImportingAGoodFile:
    def test_every_row_is_loaded_available_with_its_history(self, database: Database, tmp_path: Path) -> None:
        path = write(tmp_path, good_row(1), good_row(2, msisdn=""), good_row(3))
        result = runner.invoke(app, ["esim", "import", str(path)])
        assert result.exit_code == 0, result.output
        loaded = profiles(database)
        assert [p.iccid for p in loaded] == [make_iccid(1), make_iccid(2), make_iccid(3)]
        assert {p.status for p in loaded} == {"available"}
        assert loaded[1].msisdn is None
        with database.reading() as session:
            assert session.scalar(select(func.count()).select_from(StateTransition)) == 3

    def test_the_optional_columns_may_be_left_out(self, database: Database, tmp_path: Path) -> None:
        row = f"{make_iccid(5)},310260000000005,+12025550005,smdp.example.com,RC-5"
        path = write(tmp_path, row, header="iccid,imsi,msisdn,smdp_address,matching_id")
        assert runner.invoke(app, ["esim", "import", str(path)]).exit_code == 0
        assert profiles(database)[0].confirmation_code_required is False

    def test_a_confirmation_code_is_stored_encrypted_under_its_own_key(
        self, database: Database, tmp_path: Path
    ) -> None:
        path = write(tmp_path, good_row(7, code="4711"))
        assert runner.invoke(app, ["esim", "import", str(path)]).exit_code == 0
        (profile,) = profiles(database)
        assert profile.confirmation_code_required is True
        assert profile.confirmation_code is not None
        assert "4711" not in profile.confirmation_code
        assert confirmation.unseal(profile.iccid, profile.confirmation_code) == "4711"
        # Bound to its ICCID, and not readable with another purpose's key.
        with pytest.raises(ValueError, match="does not open"):
            confirmation.unseal(make_iccid(8), profile.confirmation_code)
        with pytest.raises(ValueError, match="does not open"):
            keys.decrypt(
                "message-secret", profile.confirmation_code, context=f"esim:{profile.iccid}".encode()
            )


class TestRowByRowValidation:
    @pytest.mark.parametrize(
        ("row", "field"),
        [
            (good_row(1).replace(make_iccid(1), make_iccid(1)[:-1]), "iccid"),  # too short
            (good_row(1).replace(make_iccid(1), "99" + make_iccid(1)[2:]), "iccid"),  # not 89
            (
                good_row(1).replace(
                    make_iccid(1), make_iccid(1)[:-1] + str((int(make_iccid(1)[-1]) + 1) % 10)
                ),
                "iccid",
            ),
            (good_row(1).replace(make_iccid(1), "89A" + make_iccid(1)[3:]), "iccid"),
            (good_row(1).replace("310260000000001", "3102600000"), "imsi"),
            (good_row(1).replace("310260000000001", "3102600000000011"), "imsi"),
            (good_row(1).replace("+12025550001", "12025550001"), "msisdn"),
            (good_row(1).replace("+12025550001", "+1 202 555 0001"), "msisdn"),
            (good_row(1).replace("+12025550001", "+10000000000"), "msisdn"),
            (good_row(1).replace("smdp.example.com", "https://smdp.example.com"), "smdp_address"),
            (good_row(1).replace("smdp.example.com", "smdp.example.com:8443"), "smdp_address"),
            (good_row(1).replace("smdp.example.com", "localhost"), "smdp_address"),
            (good_row(1).replace("RC-000001", "rc-000001"), "matching_id"),
            (good_row(1).replace("RC-000001", "RC_000001"), "matching_id"),
            (good_row(1).replace("RC-000001", ""), "matching_id"),
            (good_row(1).replace("RC-000001", "RC$000001"), "matching_id"),
            (good_row(1).replace(",0,", ",1,"), "confirmation_code"),
            (good_row(1).replace(",0,", ",yes,"), "confirmation_code_required"),
            (good_row(1, code="12$4"), "confirmation_code"),
        ],
    )
    def test_a_bad_field_rejects_its_row_and_names_the_field(
        self, database: Database, tmp_path: Path, row: str, field: str
    ) -> None:
        path = write(tmp_path, good_row(2), row, good_row(3))
        with database.transaction() as session:
            report = inventory.import_file(session, path)
        assert report.loaded == 2
        assert {(r.line, r.field) for r in report.rejected} >= {(3, field)}
        assert {r.line for r in report.rejected} == {3}
        assert make_iccid(1) not in {p.iccid for p in profiles(database)}

    def test_the_command_lists_the_rejections_and_exits_1(self, database: Database, tmp_path: Path) -> None:
        path = write(tmp_path, good_row(1), good_row(2).replace("RC-000002", "bad id"))
        result = runner.invoke(app, ["esim", "import", str(path)])
        assert result.exit_code == 1
        assert "matching_id" in result.output
        assert "loaded 1 profiles" in result.output
        assert len(profiles(database)) == 1

    def test_an_iccid_twice_in_the_file_loads_the_first_only(
        self, database: Database, tmp_path: Path
    ) -> None:
        twin = good_row(1).replace("+12025550001", "+12025550099").replace("RC-000001", "RC-000099")
        path = write(tmp_path, good_row(1), twin)
        with database.transaction() as session:
            report = inventory.import_file(session, path)
        assert report.loaded == 1
        assert report.rejected == [inventory.Rejection(3, "iccid", "appears twice in this file")]

    def test_a_known_iccid_or_a_taken_msisdn_is_rejected(self, database: Database, tmp_path: Path) -> None:
        assert runner.invoke(app, ["esim", "import", str(write(tmp_path, good_row(1)))]).exit_code == 0
        again = good_row(1).replace("+12025550001", "+12025550098")
        taken = good_row(2, msisdn="+12025550001")
        with database.transaction() as session:
            report = inventory.import_file(session, write(tmp_path, again, taken, good_row(3)))
        assert report.loaded == 1
        assert [(r.line, r.field) for r in report.rejected] == [(2, "iccid"), (3, "msisdn")]


class TestSecretColumns:
    @pytest.mark.parametrize("column", ["Ki", "OPc", "PIN1", "PUK1", "puk2", "ADM1", "KIc1", "OP"])
    def test_a_file_with_a_secret_column_is_refused_whole(
        self, database: Database, tmp_path: Path, column: str
    ) -> None:
        path = write(tmp_path, good_row(1) + ",00112233", header=f"{HEADER},{column}")
        result = runner.invoke(app, ["esim", "import", str(path)])
        assert result.exit_code == 2
        assert column in result.output
        assert "HLR" in result.output
        assert profiles(database) == []

    def test_the_service_refuses_it_too(self, database: Database, tmp_path: Path) -> None:
        path = write(tmp_path, good_row(1) + ",x", header=f"{HEADER},Ki")
        with database.transaction() as session, pytest.raises(inventory.SecretColumnInFile):
            inventory.import_file(session, path)
        assert profiles(database) == []

    def test_a_missing_column_refuses_the_file(self, database: Database, tmp_path: Path) -> None:
        path = write(tmp_path, "x,y", header="iccid,imsi")
        result = runner.invoke(app, ["esim", "import", str(path)])
        assert result.exit_code == 2
        assert "msisdn" in result.output


class TestAllocation:
    def test_each_profile_goes_to_one_card_in_stock_order(self, database: Database) -> None:
        with database.transaction() as session:
            iccids = make_esim_profiles(session, 2)
            first, second, third = (make_card(session) for _ in range(3))
            a = inventory.allocate(session, first.id)
            b = inventory.allocate(session, second.id)
            c = inventory.allocate(session, third.id)
        assert a is not None
        assert b is not None
        assert [a.iccid, b.iccid] == iccids
        assert c is None
        loaded = profiles(database)
        assert [(p.status, p.card_id) for p in loaded] == [("allocated", first.id), ("allocated", second.id)]

    def test_parallel_allocations_never_give_a_profile_twice(self, database: Database) -> None:
        with database.transaction() as session:
            make_esim_profiles(session, 5)
            card_ids = [make_card(session).id for _ in range(12)]
        results: list[object] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(card_ids))

        def buy(card_id: int) -> None:
            try:
                barrier.wait()
                with database.tx() as tx:
                    results.append(inventory.allocate(tx, card_id))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=buy, args=(card_id,)) for card_id in card_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        won = [r for r in results if r is not None]
        assert len(won) == 5
        assert len({r.iccid for r in won}) == 5  # type: ignore[attr-defined]
        held = [p.card_id for p in profiles(database)]
        assert len(set(held)) == 5
        assert None not in held

    def test_low_stock_is_logged_counted_and_reported(
        self, database: Database, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(get_settings(), "esim_low_stock", 3)
        before = inventory.LOW_STOCK_ALERTS._value.get()
        with database.transaction() as session:
            make_esim_profiles(session, 4)
            card = make_card(session)
            inventory.allocate(session, card.id)
            assert inventory.low_stock(session) is None
            assert inventory.LOW_STOCK_ALERTS._value.get() == before
            inventory.allocate(session, make_card(session).id)
            assert inventory.low_stock(session) == 2
        assert inventory.LOW_STOCK_ALERTS._value.get() == before + 1
        assert inventory.PROFILES_AVAILABLE._value.get() == 2


class TestDemo:
    def test_demo_imports_an_inventory_and_gives_each_demo_card_one_profile_twice_over(
        self, database: Database, client: TestClient
    ) -> None:
        from roamcard.demo import DEMO_CARDS
        from roamcard.models import Card

        for _ in range(2):  # a second run changes nothing
            assert CliRunner().invoke(app, ["demo"]).exit_code == 0
            with database.reading() as session:
                for demo in DEMO_CARDS:
                    card = session.scalars(select(Card).where(Card.card_number == demo.card_number)).one()
                    held = session.scalars(select(EsimProfile).where(EsimProfile.card_id == card.id)).all()
                    assert [p.status for p in held] == ["allocated"]
                available = session.scalar(
                    select(func.count()).select_from(EsimProfile).where(EsimProfile.status == "available")
                )
                assert available
        demo = DEMO_CARDS[0]
        signed = client.post(
            "/api/v1/sessions", json={"card_number": demo.card_number, "password": demo.password}
        )
        assert signed.status_code == 201, signed.text
        esim = client.get("/api/v1/card/esim", headers={"Authorization": f"Bearer {signed.json()['token']}"})
        assert esim.status_code == 200  # a real install page for a newcomer
        assert esim.json()["activation_code"].startswith("1$")
