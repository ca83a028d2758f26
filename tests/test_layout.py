"""The house plan holds: small modules, a small top to cloud_bridge, SQL in its rooms.

The import rules themselves (which package may import which) are import-linter
contracts in pyproject.toml, checked by ``make test``; these are the rules it cannot
express.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "firmware_config", "protocol", "cloud_bridge", "simulator")
MAX_LINES = 500


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_500_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines: split it"


def test_cloud_bridge_top_holds_only_the_entry_point_and_wiring() -> None:
    top = sorted(p.name for p in (ROOT / "cloud_bridge").glob("*.py"))
    assert len(top) <= 7, f"cloud_bridge/ has {len(top)} modules at its top: {top}"


def test_every_package_says_what_it_is() -> None:
    for package in PACKAGES:
        for init in (ROOT / package).rglob("__init__.py"):
            text = init.read_text().lstrip()
            assert text.startswith('"""'), f"{init.relative_to(ROOT)} has no docstring"
