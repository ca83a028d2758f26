"""A real agent in its own process, for tests that kill it with SIGKILL.

Usage: python -m tests.support.agent_proc DIR PORT EVENTS
It stores EVENTS alarm events as fast as it can while publishing, then keeps running
until it is killed or receives SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

from tests.support.bins import bin_config, make_bin


def main() -> None:
    """Run the agent as described in the module docstring."""
    directory, port, events = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    test_bin = make_bin(bin_config(directory), port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    test_bin.agent.start_link()
    for i in range(events):
        test_bin.agent.runtime.emit_event(
            "alarm", {"kind": "tamper", "active": i % 2 == 0, "detail": f"event {i}"}
        )
    print("stored", flush=True)
    stop.wait()
    test_bin.agent.stop()


if __name__ == "__main__":
    main()
