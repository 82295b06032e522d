"""kit/ is domain-free: it imports nothing from roamcard outside kit (the domain depends on kit, never
the other way round)."""

from __future__ import annotations

import ast
from pathlib import Path

import roamcard.kit

KIT = Path(roamcard.kit.__file__).parent


def imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: only within kit itself
                modules.append("roamcard.kit" if node.level == 1 else "roamcard")
            elif node.module:
                modules.append(node.module)
    return modules


def test_kit_imports_nothing_from_roamcard_outside_kit() -> None:
    outside = {
        f"{path.name}: {module}"
        for path in sorted(KIT.glob("*.py"))
        for module in imported_modules(path)
        if (module == "roamcard" or module.startswith("roamcard.")) and not module.startswith("roamcard.kit")
    }
    assert outside == set()


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from roamcard.models import StateTransition\n")
    assert imported_modules(sample) == ["roamcard.models"]
