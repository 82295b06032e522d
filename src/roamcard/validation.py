"""Request validation errors as localised problem+json with one entry per field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from roamcard import i18n
from roamcard.errors import PROBLEM_BASE
from roamcard.i18n import lazy

# Pydantic's error types mapped onto our catalogue; our own validators raise custom types whose
# message already is a msgid.
MESSAGES: dict[str, str] = {
    "missing": lazy("This field is required."),
    "json_invalid": lazy("The request body is not valid JSON."),
    "model_attributes_type": lazy("The request body must be a JSON object."),
    "dict_type": lazy("The request body must be a JSON object."),
    "extra_forbidden": lazy("This field is not allowed."),
    "int_type": lazy("Enter a whole number."),
    "int_parsing": lazy("Enter a whole number."),
    "int_from_float": lazy("Enter a whole number."),
    "string_type": lazy("Enter text here."),
    "string_too_short": lazy("This field is too short."),
    "string_too_long": lazy("This field is too long."),
    "string_pattern_mismatch": lazy("This value has the wrong format."),
    "greater_than": lazy("Enter a number greater than {gt}."),
    "greater_than_equal": lazy("Enter a number of at least {ge}."),
    "less_than_equal": lazy("Enter a number of at most {le}."),
    "less_than": lazy("Enter a number less than {lt}."),
}
CUSTOM_TYPES = {"card_number_invalid", "password_invalid", "password_missing", "phone_invalid"}
# A money field (`amount`, `*_amount`, `amount_minor`) says what its whole number counts.
INTEGER_TYPES = {"int_type", "int_parsing", "int_from_float"}
AMOUNT_MESSAGE = lazy("Enter a whole number of minor units (1000 means 10.00).")


def _is_amount(location: Sequence[Any]) -> bool:
    names = [str(part) for part in location if isinstance(part, str)]
    return bool(names) and (names[-1] == "amount" or "amount" in names[-1].split("_"))


def field_message(error: dict[str, Any], language: str | None = None) -> str:
    kind = error.get("type", "")
    if kind in CUSTOM_TYPES:
        return i18n.gettext(error["msg"], language)
    template = MESSAGES.get(kind)
    if kind in INTEGER_TYPES and _is_amount(error.get("loc", ())):
        template = AMOUNT_MESSAGE
    if template is None:
        return i18n.gettext("This value is not valid.", language)
    context = {k: v for k, v in (error.get("ctx") or {}).items() if isinstance(v, int | float | str)}
    try:
        return i18n.gettext(template, language, **context)
    except (KeyError, IndexError):
        return i18n.gettext(template, language)


def field_name(location: Sequence[Any]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_problem(errors: Sequence[Any], instance: str) -> dict[str, Any]:
    return {
        "type": PROBLEM_BASE + "validation_failed",
        "title": "Validation failed",
        "status": 422,
        "code": "validation_failed",
        "detail": i18n.gettext("Some fields are not valid."),
        "instance": instance,
        "errors": [
            {
                "field": "body" if e.get("type") == "json_invalid" else field_name(e.get("loc", ())),
                "message": field_message(e),
            }
            for e in errors
        ],
    }
