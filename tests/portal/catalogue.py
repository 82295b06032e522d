"""Every msgid the portal shows, found in its templates and modules (and the card-settings domain code and
SMS templates it added), so a test can prove each one has a zh_CN translation.

    .venv/bin/python -m tests.portal.catalogue           # list msgids missing from the zh_CN catalogues
    .venv/bin/python -m tests.portal.catalogue --update  # add them to both portal.po (then translate zh_CN)
"""

from __future__ import annotations

import ast
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from jinja2 import Environment, nodes

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "roamcard"
PYTHON_SOURCES = [
    *sorted((PACKAGE / "portal").glob("*.py")),
    PACKAGE / "card" / "settings.py",
    PACKAGE / "notification" / "templates.py",
    PACKAGE / "topup" / "history.py",
]
TEMPLATES = sorted((PACKAGE / "templates" / "portal").glob("*.html"))
GETTEXT = {"_", "gettext", "lazy"}
# Calls whose n-th positional argument is a msgid.
MESSAGE_ARGUMENTS = {
    "ValidationFailed": 1,
    "PydanticCustomError": 1,
    "PhoneCodeProblem": 0,
    "super().__init__": 0,
}


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def python_msgids(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = _call_name(node)
            index = 0 if name in GETTEXT else MESSAGE_ARGUMENTS.get(name or "")
            if name == "__init__":  # super().__init__("msg") in a field-error class
                index = 0
            if index is not None and len(node.args) > index:
                argument = node.args[index]
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    found.add(argument.value)
        elif (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "message" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found.add(node.value.value)
    # Field names given to errors (`"current_password"`) are not messages.
    return {m for m in found if not m.replace("_", "").islower() or " " in m}


def template_msgids(path: Path) -> set[str]:
    tree = Environment(autoescape=True).parse(path.read_text(encoding="utf-8"))
    found = set()
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name == "_" and call.args:
            first = call.args[0]
            if isinstance(first, nodes.Const) and isinstance(first.value, str):
                found.add(first.value)
    return found


def portal_msgids() -> set[str]:
    msgids: set[str] = set()
    for path in PYTHON_SOURCES:
        msgids |= python_msgids(path)
    for path in TEMPLATES:
        msgids |= template_msgids(path)
    return msgids


def translated(language: str = "zh_CN") -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((PACKAGE / "locale" / language / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if message.id and message.string and not message.fuzzy and isinstance(message.id, str):
                    merged.setdefault(message.id, str(message.string))
    return merged


def missing(language: str = "zh_CN") -> list[str]:
    done = translated(language)
    return sorted(m for m in portal_msgids() if m not in done)


def portal_catalogue(language: str) -> Path:
    return PACKAGE / "locale" / language / "LC_MESSAGES" / "portal.po"


def update(translations: dict[str, str] | None = None) -> None:
    """Add missing msgids to both portal.po files (zh_CN with `translations` where given)."""
    for language in ("zh_CN", "en"):
        path = portal_catalogue(language)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
        else:
            catalog = Catalog(locale=language, project="Roamcard portal", version="1", fuzzy=False)
        known = {m.id for m in catalog if m.id}
        for msgid in sorted(portal_msgids() - known):
            catalog.add(msgid, (translations or {}).get(msgid, "") if language == "zh_CN" else "")
        with path.open("wb") as handle:
            write_po(handle, catalog, width=110, sort_output=True, omit_header=False)


if __name__ == "__main__":
    import sys

    if "--update" in sys.argv:
        update()
    for msgid in missing():
        print(repr(msgid))
