"""The layers import one way: the domain knows no Airflow, HTTP or SQL, and hooks no operator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "xops_provider"
DOMAIN = ("stories", "sync", "models", "correlation")
FORBIDDEN_IN_DOMAIN = ("airflow", "requests", "sqlalchemy", "xops_provider.store", "xops_provider.hooks")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(package: str) -> list[pytest.ParameterSet]:
    return [
        pytest.param(path, id=str(path.relative_to(PACKAGE)))
        for path in sorted((PACKAGE / package).rglob("*.py"))
    ]


class TestImportBoundaries:
    @pytest.mark.parametrize("path", [p for package in DOMAIN for p in _modules(package)])
    def test_domain_imports_no_adapter(self, path):
        offending = sorted(
            name
            for name in _imports(path)
            for forbidden in FORBIDDEN_IN_DOMAIN
            if name == forbidden or name.startswith(f"{forbidden}.")
        )
        assert offending == [], f"{path.name} imports {offending}"

    @pytest.mark.parametrize("path", _modules("hooks"))
    def test_hooks_import_no_operator(self, path):
        offending = sorted(
            name
            for name in _imports(path)
            if name.startswith(
                ("xops_provider.operators", "xops_provider.sensors", "airflow.sdk.bases.operator")
            )
        )
        assert offending == [], f"{path.name} imports {offending}"

    def test_the_check_sees_a_forbidden_import(self, tmp_path):
        bad = tmp_path / "bad.py"
        bad.write_text("import sqlalchemy\nfrom airflow.sdk import BaseHook\n")
        assert {"sqlalchemy", "airflow.sdk"} <= _imports(bad)
