"""The product never depends on the sandbox, the developer tools, the benchmarks or the tests."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PRODUCT = ("include/bc_sales_sync", "dags", "plugins")
NOT_IN_PRODUCT = ("include.sandbox", "dev", "bench", "tests")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def product_files() -> list[Path]:
    return sorted(p for folder in PRODUCT for p in (ROOT / folder).rglob("*.py"))


def forbidden_imports(path: Path) -> list[str]:
    return sorted(n for n in imported_modules(path) for o in NOT_IN_PRODUCT if n == o or n.startswith(o + "."))


def test_product_modules_import_only_the_product():
    files = product_files()
    assert len(files) > 50  # the scan sees the product
    offenders = {str(p.relative_to(ROOT)): forbidden_imports(p) for p in files if forbidden_imports(p)}
    assert offenders == {}


def test_the_sandbox_does_not_import_the_developer_tools():
    for path in (ROOT / "include" / "sandbox").rglob("*.py"):
        assert not {n for n in imported_modules(path) if n == "dev" or n.startswith("dev.")}, path
