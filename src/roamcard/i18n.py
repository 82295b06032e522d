"""zh-CN and en from Babel message catalogues (`locale/<lang>/LC_MESSAGES/messages.po`).

The .po files (one per area) are the source of truth and are compiled in memory at start-up, so there
is no build step and no binary catalogue in the repository. English msgids double as the English text.
"""

from __future__ import annotations

import io
from contextvars import ContextVar
from functools import cache, lru_cache
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from babel.core import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LOCALE_DIR = Path(__file__).parent / "locale"

_current: ContextVar[str] = ContextVar("roamcard_language", default=DEFAULT_LANGUAGE)


def _catalogue_dir(language: str) -> str:
    return language.replace("-", "_")


def catalogue_files(language: str) -> list[Path]:
    """One .po file per area (messages.po for the core, portal.po, ...), merged at load time."""
    return sorted((LOCALE_DIR / _catalogue_dir(language) / "LC_MESSAGES").glob("*.po"))


@cache
def translations(language: str) -> NullTranslations:
    merged: NullTranslations = NullTranslations()
    first = True
    for path in catalogue_files(language):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=_catalogue_dir(language))
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        loaded = Translations(buffer)
        if first:
            merged, first = loaded, False
        else:
            merged.add_fallback(loaded)
    return merged


def gettext(message: str, language: str | None = None, **params: Any) -> str:
    text = translations(language or _current.get()).gettext(message)
    return text.format(**params) if params else text


_ = gettext


def lazy(message: str) -> str:
    """Mark a string for extraction; translate it later with `gettext`."""
    return message


def set_language(language: str) -> None:
    _current.set(language)


def current_language() -> str:
    return _current.get()


def normalise_language(value: str | None) -> str | None:
    """Map `zh`, `zh-Hans-CN`, `zh_CN`, `en-US` ... onto a supported language, or None."""
    if not value:
        return None
    try:
        parsed = Locale.parse(value.strip().replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    if parsed.language == "zh":
        return "zh-CN"
    if parsed.language == "en":
        return "en"
    return None


# Every request asks; clients send few distinct headers, and parsing one (Babel) costs ~20 µs. Bounded,
# so a stream of odd headers cannot grow it.
@lru_cache(maxsize=1024)
def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """Pick a language from an Accept-Language header, honouring q-values."""
    if not accept_language:
        return default
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        language = normalise_language(tag) if tag and tag != "*" else None
        if language and quality > 0:
            weighted.append((-quality, index, language))
    return sorted(weighted)[0][2] if weighted else default
