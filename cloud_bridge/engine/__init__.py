"""The engine: the single writer that turns received messages into stored facts, one
transaction per batch (processor, writer thread, counters), and the
:class:`~cloud_bridge.engine.bridge.Bridge` that runs it with its broker link."""
