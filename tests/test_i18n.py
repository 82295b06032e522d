"""Message catalogues: every core msgid has a Chinese translation, translations keep their placeholders,
Accept-Language negotiation, and real API errors in Chinese.

When a coverage test fails: `.venv/bin/python scripts/extract_messages.py --update`, then translate the
new entries in src/roamcard/locale/zh_CN/LC_MESSAGES/messages.po.
"""

from __future__ import annotations

import importlib.util
import re
import string
import sys
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient

from roamcard import i18n
from roamcard.db import Database
from roamcard.kit.money import Money
from roamcard.notification.service import render
from roamcard.notification.sms import segments
from tests.factories import DEFAULT_PASSWORD, make_card, make_catalog

ROOT = Path(__file__).resolve().parent.parent
CHINESE = re.compile(r"[\u4e00-\u9fff]")
CATALOGUES = sorted(i18n.LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


def _load_extractor() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "extract_messages", ROOT / "scripts" / "extract_messages.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


extractor = _load_extractor()


@pytest.fixture(scope="module")
def extraction():  # type: ignore[no-untyped-def]
    return extractor.extract()


def placeholders(text: str) -> list[str]:
    return sorted(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


def zh(msgid: str, **params: object) -> str:
    return i18n.gettext(msgid, "zh-CN", **params)


class TestExtractor:
    @pytest.mark.parametrize(
        "msgid",
        [
            "Some fields are not valid.",  # gettext(...) call
            "Waiting for payment",  # lazy(...)
            "Roamcard recharge receipt",  # receipt's t(...)
            "The card number or service password is wrong.",  # AppError subclass `message = ...`
            "Your session has ended. Sign in again.",  # subclass of a subclass (Unauthorized)
            "There is no such product.",  # ValidationFailed(field, "msg")
            "Enter the service password.",  # PydanticCustomError(type, "msg")
            "The card number starts with 89.",  # card/numbers.py exception
            "Something went wrong on our side.",  # `error.message = ...` in app.py
            "Approve",  # Jinja template _()
            "Amount: {amount}",  # Jinja template _() with keyword arguments (payment/qr.html)
        ],
    )
    def test_finds_each_kind_of_msgid(self, extraction, msgid: str) -> None:  # type: ignore[no-untyped-def]
        assert msgid in extraction.messages

    def test_skips_the_portal_and_follows_error_signatures_across_modules(self, tmp_path: Path) -> None:
        package = tmp_path / "roamcard"
        for folder in ("portal", "templates/portal", "templates/mail"):
            (package / folder).mkdir(parents=True)
        (package / "errors.py").write_text(
            "class AppError(Exception):\n"
            '    message = "Base."\n'
            "    def __init__(self, message=None, **params): ...\n"
            "class ValidationFailed(AppError):\n"
            "    def __init__(self, field, message, **params): ...\n"
        )
        (package / "shop.py").write_text(
            "from roamcard.errors import AppError, ValidationFailed\n"
            "class ShopError(AppError):\n"
            "    pass\n"
            "class ShopClosed(ShopError):\n"
            '    message = "The shop is closed."\n'
            "class CodeProblem(ValidationFailed):\n"
            "    def __init__(self, message):\n"
            '        super().__init__("code", message)\n'
            "class CodeExpired(CodeProblem):\n"
            "    def __init__(self):\n"
            '        super().__init__("The code has expired.")\n'
            "def check(name, price):\n"
            '    raise ShopError("Closed for the holiday.")\n'
            '    raise ValidationFailed("price", "Too cheap.")\n'
            '    raise CodeProblem("Type six digits.")\n'
            '    return gettext(f"Hello {name}")\n'
        )
        (package / "portal" / "routes.py").write_text('_("Portal only")\n')
        (package / "templates" / "portal" / "page.html").write_text('{{ _("Portal page") }}\n')
        (package / "templates" / "mail" / "mail.html").write_text('{{ _("Core mail") }}\n')

        found = extractor.extract(package)

        assert set(found.messages) == {
            "Base.",
            "The shop is closed.",
            "The code has expired.",
            "Closed for the holiday.",
            "Too cheap.",
            "Type six digits.",
            "Core mail",
        }
        assert found.problems == ["src/roamcard/shop.py:16: a msgid must be a plain string literal"]

    def test_core_msgids_are_plain_literals(self, extraction) -> None:  # type: ignore[no-untyped-def]
        assert extraction.problems == []


class TestCatalogues:
    def test_every_core_msgid_has_a_chinese_translation(self, extraction) -> None:  # type: ignore[no-untyped-def]
        untranslated = [f"{m.msgid!r} ({m.locations[0]})" for m in extractor.missing(extraction, "zh_CN")]
        assert not untranslated, (
            "run `.venv/bin/python scripts/extract_messages.py --update` and translate in "
            "src/roamcard/locale/zh_CN/LC_MESSAGES/messages.po:\n  " + "\n  ".join(untranslated)
        )

    def test_translations_are_what_the_app_serves(self, extraction) -> None:  # type: ignore[no-untyped-def]
        served = {msgid: zh(msgid) for msgid in extraction.messages}
        assert [msgid for msgid, text in served.items() if not CHINESE.search(text)] == []

    @pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(i18n.LOCALE_DIR)))
    def test_translations_keep_the_placeholders(self, path: Path) -> None:
        with path.open("rb") as handle:
            catalog = read_po(handle)
        wrong = []
        for message in catalog:
            if not message.id:
                continue
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            expected = placeholders(ids[0])
            for text in filter(None, strings):
                try:
                    if placeholders(text) != expected:
                        wrong.append(f"{ids[0]!r} -> {text!r}")
                except ValueError as exc:  # an unbalanced brace breaks str.format at run time
                    wrong.append(f"{ids[0]!r} -> {text!r}: {exc}")
        assert wrong == []

    def test_english_is_the_msgid(self) -> None:
        assert i18n.gettext("Sign in first.", "en") == "Sign in first."
        assert i18n.gettext("{amount} SMS", "en", amount=5) == "5 SMS"
        assert zh("{amount} SMS", amount=5) == "5 条短信"


class TestNegotiate:
    @pytest.mark.parametrize(
        ("header", "language"),
        [
            (None, "zh-CN"),
            ("", "zh-CN"),
            ("en", "en"),
            ("EN-gb", "en"),
            ("en-US,en;q=0.9", "en"),
            ("zh-CN", "zh-CN"),
            ("zh_CN", "zh-CN"),
            ("zh", "zh-CN"),
            ("zh-TW", "zh-CN"),
            ("zh-Hant-HK", "zh-CN"),
            ("zh-Hans", "zh-CN"),
            ("zh-Hans-CN", "zh-CN"),
            ("en;q=0.5, zh-CN;q=0.9", "zh-CN"),
            ("zh-CN;q=0.4, en;q=0.8", "en"),
            ("fr-FR, en;q=0.1", "en"),  # an unsupported first choice is skipped
            ("zh-CN;q=0.8, en;q=0.8", "zh-CN"),  # a tie goes to the one listed first
            ("en;q=0.8, zh-CN;q=0.8", "en"),
            ("en;q=0", "zh-CN"),  # q=0 means "not this one"
            ("en;q=abc, zh-CN;q=0.2", "zh-CN"),
            ("fr-FR, de;q=0.9", "zh-CN"),
            ("*", "zh-CN"),
            ("xx-@@", "zh-CN"),
        ],
    )
    def test_picks_a_supported_language(self, header: str | None, language: str) -> None:
        assert i18n.negotiate(header) == language

    def test_unknown_falls_back_to_the_given_default(self) -> None:
        assert i18n.negotiate("fr, de;q=0.5", default="en") == "en"


class TestLocalisedErrors:
    LUHN_INVALID = "89103900000000000016"  # 89103900000000000015 is valid

    def test_luhn_invalid_card_number_is_answered_in_chinese(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/sessions",
            json={"card_number": self.LUHN_INVALID, "password": DEFAULT_PASSWORD},
            headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"},
        )

        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["content-language"] == "zh-CN"
        problem = response.json()
        assert problem["code"] == "validation_failed"
        assert problem["detail"] == zh("Some fields are not valid.")
        message = zh("The card number is not valid. Check it for a typing mistake.")
        assert CHINESE.search(message)
        assert problem["errors"] == [{"field": "card_number", "message": message}]

    def test_the_same_error_in_english(self, client: TestClient) -> None:
        response = client.post(
            "/api/v1/sessions",
            json={"card_number": self.LUHN_INVALID, "password": DEFAULT_PASSWORD},
            headers={"Accept-Language": "en-US,en;q=0.9"},
        )

        assert response.status_code == 422
        assert response.headers["content-language"] == "en"
        assert response.json()["errors"] == [
            {
                "field": "card_number",
                "message": "The card number is not valid. Check it for a typing mistake.",
            }
        ]

    def test_service_errors_are_answered_in_chinese(self, database: Database, client: TestClient) -> None:
        with database.transaction() as session:
            make_catalog(session)
            card_number = make_card(session).card_number
        chinese = {"Accept-Language": "zh-CN"}

        wrong = client.post(
            "/api/v1/sessions", json={"card_number": card_number, "password": "99999999"}, headers=chinese
        )
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == zh("The card number or service password is wrong.")

        token = client.post(
            "/api/v1/sessions", json={"card_number": card_number, "password": DEFAULT_PASSWORD}
        ).json()["token"]
        unknown = client.post(
            "/api/v1/topups",
            json={"product_id": "no-such-product", "currency": "USD", "payment_method": "sandbox"},
            headers={**chinese, "Authorization": f"Bearer {token}", "Idempotency-Key": "i18n-1"},
        )
        assert unknown.status_code == 422
        assert unknown.json()["errors"] == [
            {"field": "product_id", "message": zh("There is no such product.")}
        ]


class TestSmsTemplate:
    ORDER_ID = "top_" + "0" * 20

    @pytest.mark.parametrize(
        "product",
        [
            "10 美元余额",
            "自选金额充值",
            "1GB 流量包（7 天）",
            "5GB 流量包（30 天）",
            "100 分钟通话包（30 天）",
        ],
    )
    def test_a_chinese_recharge_sms_fits_one_part(self, product: str) -> None:
        body = render(
            "topup_fulfilled", "zh-CN", order_id=self.ORDER_ID, product=product, balance=Money(1000, "USD")
        )
        assert CHINESE.search(body)
        assert self.ORDER_ID in body
        assert segments(body) == 1, f"{len(body)} characters: {body}"
