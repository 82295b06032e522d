"""The dependency direction between the money domains is one way (docs/architecture.md, "Dependencies"):
top-up and refund import payment, payment imports neither top-up's use cases nor refund, and no function
hides a cycle behind a function-local import. What payment hands on goes through `payment.outcomes`,
installed by the composition root `roamcard.wiring`."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "roamcard"
# Payment must not reach these (it may read the order's state definitions, `topup.states`).
FORBIDDEN_FOR_PAYMENT = ("roamcard.topup.service", "roamcard.refund")
NO_LOCAL_IMPORTS_IN = ("payment", "topup", "refund", "dispute", "sandbox")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """Every module name an import statement can bind, resolved (relative imports included)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)  # `from roamcard import refund`


def _files(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def _violations_of_direction() -> list[str]:
    found = []
    for path in _files("payment"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for name in _imported(node, module, path.name == "__init__.py"):
                    if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN_FOR_PAYMENT):
                        found.append(f"{path.relative_to(SRC)}:{node.lineno} imports {name}")
    return found


def _local_imports() -> list[str]:
    found = []
    for package in NO_LOCAL_IMPORTS_IN:
        for path in _files(package):
            module = _module_name(path)
            for function in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    continue
                for node in ast.walk(function):
                    if isinstance(node, ast.Import | ast.ImportFrom) and any(
                        name == "roamcard" or name.startswith("roamcard.")
                        for name in _imported(node, module, path.name == "__init__.py")
                    ):
                        found.append(f"{path.relative_to(SRC)}:{node.lineno} in a function body")
    return found


def test_payment_imports_neither_topup_use_cases_nor_refund() -> None:
    assert _violations_of_direction() == []


def test_no_function_local_imports_of_roamcard_in_the_money_domains() -> None:
    assert _local_imports() == []


def test_importing_all_of_payment_loads_no_topup_use_case_and_no_refund() -> None:
    """Transitively too: a fresh interpreter imports every payment module and nothing else is pulled in."""
    script = (
        "import importlib, pkgutil, sys, roamcard.payment as p\n"
        "for m in pkgutil.walk_packages(p.__path__, 'roamcard.payment.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith("
        f"{FORBIDDEN_FOR_PAYMENT!r}))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "ROAMCARD_ENVIRONMENT": "test"},
    )
    assert result.stdout.split() == []


def test_every_entry_point_imports_the_composition_root() -> None:
    """The app factory, the worker and the CLI import `roamcard.wiring` at module level."""
    for entry in ("app.py", "jobs/sweepers.py", "cli.py"):
        tree = ast.parse((PACKAGE / entry).read_text())
        top_level = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
        assert any(
            node.module == "roamcard" and "wiring" in {alias.name for alias in node.names}
            for node in top_level
        ), entry
