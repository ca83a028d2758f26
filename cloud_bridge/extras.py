"""The bridge's own dependencies live in the ``bridge`` extra; say so when they are missing.

A bin installs ``revloop[pi]`` without them (OR-Tools alone would add pandas and tens of
megabytes to the agent), so the bridge checks before it starts instead of failing with
an ImportError deep in a command.
"""

from __future__ import annotations

import importlib.util

BRIDGE_PACKAGES = ("fastapi", "uvicorn", "httpx", "ortools", "jinja2")


def missing_bridge_packages() -> list[str]:
    """The bridge extra's packages that cannot be imported here."""
    return [name for name in BRIDGE_PACKAGES if importlib.util.find_spec(name) is None]


def bridge_extra_message(missing: list[str]) -> str:
    """One line telling how to install what is missing."""
    return (
        f"the cloud bridge needs {', '.join(missing)}, from the bridge extra: "
        "pip install 'revloop[bridge]'"
    )
