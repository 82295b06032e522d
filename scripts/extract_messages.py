"""Find every user-facing msgid in the core (everything in src/roamcard except the portal) and keep the
core catalogues, `locale/{zh_CN,en}/LC_MESSAGES/messages.po`, in step with the code.

    .venv/bin/python scripts/extract_messages.py           # list the msgids and what zh_CN still lacks
    .venv/bin/python scripts/extract_messages.py --update  # add new msgids to both messages.po, drop old
    .venv/bin/python scripts/extract_messages.py --check   # exit 1 when a msgid lacks a zh_CN translation

After `--update`, translate the entries with an empty `msgstr` in zh_CN/LC_MESSAGES/messages.po (the en
catalogue stays empty: the English msgid is the English text). tests/test_i18n.py runs the same check.

What counts as a msgid (found by walking the AST, so class attributes are found too, which
`pybabel extract` would miss):
* the first string argument of `gettext(...)`, `_(...)`, `lazy(...)`, `t(...)` (receipt's local helper),
  `ngettext(...)` (singular and plural), also when called as `i18n.gettext(...)`;
* `message = "..."` in the body of every `AppError` subclass (found transitively across modules), and
  `<something>.message = ...` assignments (app.py's fallback handlers);
* the message given when raising an `AppError` subclass: `ValidationFailed(field, "msg")` (second argument),
  `SomeError("msg")` or `SomeError(..., message="msg")`;
* the second argument of `PydanticCustomError(type, "msg")`;
* the first argument of the exceptions defined in USER_FACING_EXCEPTION_MODULES (card/numbers.py: its
  messages reach the user through kit/schemas.py);
* `_("...")` / `gettext("...")` in the Jinja templates under src/roamcard/templates.

The portal (src/roamcard/portal/**, templates/portal/**) has its own catalogue, portal.po, and is skipped.
Other areas keep their own catalogue too (backoffice.po, ivr.po, payments.po): their msgids are still
checked against the merged catalogues, but each msgid has one home: `--update` leaves out of
messages.po every msgid another catalogue translates.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from jinja2 import Environment, nodes

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "roamcard"
LOCALE_DIR = PACKAGE / "locale"
CATALOGUE = "messages.po"
LANGUAGES = ("zh_CN", "en")

# Paths (relative to src/roamcard) owned by another catalogue.
EXCLUDED = ("portal", "templates/portal")

GETTEXT_FUNCTIONS = {"gettext", "_", "lazy", "t"}
PLURAL_FUNCTIONS = {"ngettext"}
ERROR_ROOT = "AppError"
# Modules whose exception classes carry user-facing msgids (shown through PydanticCustomError).
USER_FACING_EXCEPTION_MODULES = ("card/numbers.py",)


@dataclass
class Message:
    msgid: str
    locations: list[str] = field(default_factory=list)
    plural: str | None = None


@dataclass
class Extraction:
    messages: dict[str, Message] = field(default_factory=dict)
    # Strings that can never be looked up (f-strings, `.format()` inside the gettext call).
    problems: list[str] = field(default_factory=list)

    def add(self, msgid: str, location: str, plural: str | None = None) -> None:
        message = self.messages.setdefault(msgid, Message(msgid))
        if location not in message.locations:
            message.locations.append(location)
        if plural:
            message.plural = plural


def _excluded(relative: str) -> bool:
    return any(relative == prefix or relative.startswith(prefix + "/") for prefix in EXCLUDED)


def source_files(package: Path = PACKAGE, suffixes: Iterable[str] = (".py",)) -> Iterator[tuple[Path, str]]:
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package).as_posix()
        if path.suffix in suffixes and path.is_file() and not _excluded(relative):
            yield path, relative


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _strings_in(node: ast.expr) -> Iterator[str]:
    """Every string literal in an expression, except dict keys (`{404: "Not found."}.get(code, "...")`)."""
    if isinstance(node, ast.Dict):
        for value in node.values:
            yield from _strings_in(value)
        return
    literal = _literal(node)
    if literal is not None:
        yield literal
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.expr):
            yield from _strings_in(child)


@dataclass
class _ClassInfo:
    bases: list[str]
    # Positional parameters of its own `__init__` (without self) and keyword-only ones; None: inherited.
    init_args: list[str] | None
    init_kwonly: list[str]


def _classes(trees: dict[str, ast.Module]) -> dict[str, _ClassInfo]:
    found: dict[str, _ClassInfo] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            info = _ClassInfo([b for b in map(_name, node.bases) if b], None, [])
            for statement in node.body:
                if isinstance(statement, ast.FunctionDef) and statement.name == "__init__":
                    arguments = statement.args
                    info.init_args = [a.arg for a in (*arguments.posonlyargs, *arguments.args)][1:]
                    info.init_kwonly = [a.arg for a in arguments.kwonlyargs]
            found[node.name] = info
    return found


def _family(classes: dict[str, _ClassInfo], root: str) -> set[str]:
    """`root` and every class deriving from it, directly or not, anywhere in the scanned code."""
    found = {root}
    grew = True
    while grew:
        grew = False
        for name, info in classes.items():
            if name not in found and found.intersection(info.bases):
                found.add(name)
                grew = True
    return found


@dataclass(frozen=True)
class _Errors:
    """Where the message goes when an AppError subclass is built, read from the `__init__` signatures:
    `AppError(message)`, `ValidationFailed(field, message)`, `TooManyRequests(seconds, message=None)`, a
    subclass whose `__init__` takes no message (it passes a literal to `super().__init__`), ..."""

    classes: dict[str, _ClassInfo]
    family: set[str]
    exceptions: set[str]  # USER_FACING_EXCEPTION_MODULES' exceptions: the message is the first argument

    def message_slot(self, name: str) -> tuple[int | None, bool]:
        """(position of the `message` parameter or None, whether it may be passed as a keyword)."""
        seen: set[str] = set()
        while name in self.classes and name not in seen:
            seen.add(name)
            info = self.classes[name]
            if info.init_args is not None:
                if "message" in info.init_args:
                    return info.init_args.index("message"), True
                return None, "message" in info.init_kwonly
            name = self.parent(name) or ""
        return None, False

    def parent(self, name: str) -> str | None:
        return next((b for b in self.classes[name].bases if b in self.family), None)

    def message_argument(self, name: str, call: ast.Call) -> ast.expr | None:
        position, keyword = self.message_slot(name)
        if position is not None and len(call.args) > position:
            return call.args[position]
        if keyword:
            return next((k.value for k in call.keywords if k.arg == "message"), None)
        return None


def _user_facing_exceptions(trees: dict[str, ast.Module]) -> set[str]:
    return {
        node.name
        for relative in USER_FACING_EXCEPTION_MODULES
        if relative in trees
        for node in ast.walk(trees[relative])
        if isinstance(node, ast.ClassDef)
    }


def _not_a_literal(node: ast.expr) -> bool:
    formatted = (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and _literal(node.func.value) is not None
    )
    return isinstance(node, ast.JoinedStr) or formatted


def _is_super_init(call: ast.Call) -> bool:
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "__init__"
        and isinstance(func.value, ast.Call)
        and _name(func.value.func) == "super"
    )


def _extract_python(relative: str, tree: ast.Module, errors: _Errors, out: Extraction) -> None:
    def take(node: ast.expr | None, where: str) -> None:
        if node is None:
            return
        literal = _literal(node)
        if literal is not None:
            out.add(literal, where)
        elif _not_a_literal(node):
            out.problems.append(f"{where}: a msgid must be a plain string literal")

    def at(node: ast.AST) -> str:
        return f"src/roamcard/{relative}:{getattr(node, 'lineno', 0)}"

    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in errors.family:
            for statement in node.body:
                if isinstance(statement, ast.Assign | ast.AnnAssign):
                    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                    if any(isinstance(t, ast.Name) and t.id == "message" for t in targets):
                        take(statement.value, at(statement))
            # `super().__init__("msg")` inside the class: the message slot of the parent's signature.
            parent = errors.parent(node.name)
            for inner in ast.walk(node):
                if parent and isinstance(inner, ast.Call) and _is_super_init(inner):
                    take(errors.message_argument(parent, inner), at(inner))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr == "message":
                    for literal in _strings_in(node.value):
                        out.add(literal, at(node))
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for element, value in zip(target.elts, node.value.elts, strict=False):
                        if isinstance(element, ast.Attribute) and element.attr == "message":
                            for literal in _strings_in(value):
                                out.add(literal, at(node))
        elif isinstance(node, ast.Call):
            name = _name(node.func)
            if name in GETTEXT_FUNCTIONS and node.args:
                take(node.args[0], at(node))
            elif name in PLURAL_FUNCTIONS and len(node.args) >= 2:
                singular, plural = _literal(node.args[0]), _literal(node.args[1])
                if singular is not None:
                    out.add(singular, at(node), plural)
            elif name == "PydanticCustomError" and len(node.args) >= 2:
                take(node.args[1], at(node))
            elif name in errors.family:
                take(errors.message_argument(name, node), at(node))
            elif name in errors.exceptions and node.args:
                take(node.args[0], at(node))


def _extract_template(relative: str, source: str, out: Extraction) -> None:
    tree = Environment(autoescape=True).parse(source)
    for call in tree.find_all(nodes.Call):
        if isinstance(call.node, nodes.Name) and call.node.name in GETTEXT_FUNCTIONS and call.args:
            first = call.args[0]
            if isinstance(first, nodes.Const) and isinstance(first.value, str):
                out.add(first.value, f"src/roamcard/{relative}:{call.lineno}")
            else:
                out.problems.append(f"src/roamcard/{relative}:{call.lineno}: msgid must be a string literal")


def extract(package: Path = PACKAGE) -> Extraction:
    """Every msgid outside the portal, with where it is used."""
    out = Extraction()
    trees = {
        relative: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path, relative in source_files(package)
    }
    classes = _classes(trees)
    errors = _Errors(classes, _family(classes, ERROR_ROOT), _user_facing_exceptions(trees))
    for relative, tree in trees.items():
        _extract_python(relative, tree, errors, out)
    for path, relative in source_files(package, (".html", ".txt", ".jinja", ".j2")):
        _extract_template(relative, path.read_text(encoding="utf-8"), out)
    return out


# -- catalogues ---------------------------------------------------------------------------------------
def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / CATALOGUE


def read_catalogue(path: Path, language: str) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def merged_translations(language: str) -> dict[str, str]:
    """msgid -> translation from every .po of a language, as i18n.py merges them (first file wins).
    Fuzzy and empty entries do not count: i18n.py skips them too."""
    merged: dict[str, str] = {}
    for path in sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po")):
        for message in read_catalogue(path, language):
            if not message.id or message.fuzzy:
                continue
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            text = message.string if isinstance(message.string, str) else (message.string or ("",))[0]
            if text:
                merged.setdefault(msgid, text)
    return merged


def missing(extraction: Extraction, language: str = "zh_CN") -> list[Message]:
    translated = merged_translations(language)
    return [m for m in extraction.messages.values() if m.msgid not in translated]


def owned_elsewhere() -> set[str]:
    """msgids another area's catalogue (portal.po, backoffice.po, ...) translates: that area owns them."""
    owned: set[str] = set()
    for path in (LOCALE_DIR / "zh_CN" / "LC_MESSAGES").glob("*.po"):
        if path.name == CATALOGUE:
            continue
        for message in read_catalogue(path, "zh_CN"):
            if message.id and message.string and not message.fuzzy:
                owned.add(message.id if isinstance(message.id, str) else message.id[0])
    return owned


def update_catalogue(language: str, extraction: Extraction) -> tuple[int, int]:
    """Add new msgids (empty msgstr), drop msgids no longer used or translated by another area's
    catalogue; keep every other existing translation. Returns (added, dropped)."""
    elsewhere = owned_elsewhere()
    path = catalogue_path(language)
    fixed_date = datetime(2026, 11, 25, tzinfo=UTC)
    if path.exists():
        catalog = read_catalogue(path, language)
    else:
        catalog = Catalog(
            locale=language,
            project="Roamcard",
            version="1",
            header_comment=f"# Roamcard core messages ({language}); see scripts/extract_messages.py.\n#",
            creation_date=fixed_date,
            revision_date=fixed_date,
            last_translator="Roamcard team",
            language_team=f"{language} <roamcard@example.org>",
            fuzzy=False,
        )
    before = {m.id for m in catalog if m.id}
    template = Catalog(creation_date=catalog.creation_date)
    for message in sorted(extraction.messages.values(), key=lambda m: m.msgid):
        if message.msgid in elsewhere:
            continue
        files = sorted({location.rsplit(":", 1)[0] for location in message.locations})
        msgid: str | tuple[str, str] = (message.msgid, message.plural) if message.plural else message.msgid
        template.add(msgid, locations=[(f, 0) for f in files])  # written without line numbers
    catalog.update(template, no_fuzzy_matching=False, update_creation_date=False)
    after = {m.id for m in catalog if m.id}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=110, ignore_obsolete=True, include_lineno=False, sort_output=True)
    return len(after - before), len(before - after)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--update", action="store_true", help="write new msgids into both messages.po")
    group.add_argument("--check", action="store_true", help="exit 1 when a msgid lacks a zh_CN translation")
    args = parser.parse_args(argv)

    extraction = extract()
    for problem in extraction.problems:
        print(f"problem: {problem}", file=sys.stderr)
    if args.update:
        for language in LANGUAGES:
            added, dropped = update_catalogue(language, extraction)
            print(f"{catalogue_path(language).relative_to(ROOT)}: {added} added, {dropped} dropped")
    elif not args.check:
        for message in sorted(extraction.messages.values(), key=lambda m: m.msgid):
            print(f"{message.msgid!r}  ({', '.join(message.locations)})")
    untranslated = missing(extraction)
    for message in untranslated:
        print(f"untranslated (zh_CN): {message.msgid!r}  ({message.locations[0]})", file=sys.stderr)
    print(f"{len(extraction.messages)} msgids, {len(untranslated)} lack a zh_CN translation", file=sys.stderr)
    if args.check and (untranslated or extraction.problems):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
