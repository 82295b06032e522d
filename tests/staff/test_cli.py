from __future__ import annotations

from typer.testing import CliRunner

from roamcard.card import passwords
from roamcard.cli import app
from roamcard.db import Database
from roamcard.staff import repository

runner = CliRunner()


class TestStaffCreate:
    def test_creates_an_account_with_the_password_asked_for(self, database: Database) -> None:
        secret = "a long staff password"
        result = runner.invoke(
            app,
            ["staff", "create", "--role", "agent", "--email", "Ann@Roamcard.test"],
            input=f"{secret}\n{secret}\n",
        )
        assert result.exit_code == 0, result.output
        assert secret not in result.output
        with database.reading() as session:
            member = repository.get_by_email(session, "ann@roamcard.test")
            assert member is not None
            assert member.role == "agent"
            assert member.totp_enrolled_at is None
            assert passwords.verify_password(member.password_hash, secret)
        listed = runner.invoke(app, ["staff", "list"])
        assert "ann@roamcard.test" in listed.output

    def test_bad_role_short_password_or_duplicate_exit_2(self, database: Database) -> None:
        secret = "a long staff password"
        for args, password in (
            (["--role", "boss", "--email", "b@roamcard.test"], secret),
            (["--role", "agent", "--email", "b@roamcard.test"], "short"),
            (["--role", "agent", "--email", "not-an-email"], secret),
        ):
            result = runner.invoke(app, ["staff", "create", *args], input=f"{password}\n{password}\n")
            assert result.exit_code == 2, result.output
        runner.invoke(
            app,
            ["staff", "create", "--role", "agent", "--email", "c@roamcard.test"],
            input=f"{secret}\n{secret}\n",
        )
        again = runner.invoke(
            app,
            ["staff", "create", "--role", "admin", "--email", "c@roamcard.test"],
            input=f"{secret}\n{secret}\n",
        )
        assert again.exit_code == 2
        with database.reading() as session:
            assert [m.email for m in repository.list_all(session)] == ["c@roamcard.test"]

    def test_reset_totp(self, database: Database) -> None:
        from tests.backoffice.console import make_staff

        member, _ = make_staff(database, "agent")
        assert runner.invoke(app, ["staff", "reset-totp", "--email", member.email]).exit_code == 0
        with database.reading() as session:
            fresh = repository.get_by_email(session, member.email)
            assert fresh is not None
            assert fresh.totp_secret_encrypted is None
