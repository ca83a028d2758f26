"""``bin-bridge``'s entry point: check the bridge extra, then hand over to the CLI."""

from __future__ import annotations

import sys

from cloud_bridge.extras import bridge_extra_message, missing_bridge_packages


def main() -> None:
    """Console-script entry point."""
    missing = missing_bridge_packages()
    if missing:
        sys.stderr.write(f"error: {bridge_extra_message(missing)}\n")
        sys.exit(1)
    from cloud_bridge.cli.main import main as cli_main

    cli_main()
