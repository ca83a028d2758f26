"""The store's seam holds: only ``cloud_bridge/store/`` knows which database is used.

The rest of the bridge takes a ``Store`` from ``open_store`` and catches the bridge's
store errors; a module outside the store that imported a driver, or built a back-end
itself, would tie it to SQLite again and break when PostgreSQL comes.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "cloud_bridge"
STORE = BRIDGE / "store"
DRIVERS = {"sqlite3", "sqlite_utils"}


def _outside_the_store() -> list[Path]:
    return [p for p in sorted(BRIDGE.rglob("*.py")) if STORE not in p.parents]


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_store_imports_a_database_driver() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported(ast.parse(path.read_text())) & DRIVERS)
        for path in _outside_the_store()
    }
    assert {path: drivers for path, drivers in offenders.items() if drivers} == {}


def test_only_open_store_builds_a_back_end() -> None:
    builders = [
        str(path.relative_to(ROOT))
        for path in _outside_the_store()
        if "SQLiteStore" in path.read_text()
    ]
    assert builders == []
