"""The agent's local database: every SQL statement of the agent lives in this package.

:mod:`~agent.storage.localdb` opens the SQLite file and migrates it;
:mod:`~agent.storage.outbox` is the durable queue of messages to publish;
:mod:`~agent.storage.commands_seen` remembers the remote commands already taken;
:mod:`~agent.storage.lock_state` reads the door lock's state before the agent starts.
Every SQLite error leaves this package as :class:`agent.errors.StorageError`.
"""
