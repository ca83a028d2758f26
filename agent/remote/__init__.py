"""What the cloud asks of a bin: remote commands (``cmd``) and remote configuration
(``config/desired``).

Each takes the few operations it needs of the running bin as a small protocol
(:class:`~agent.remote.commands.CommandTarget`, :class:`~agent.remote.config.ConfigTarget`),
which :class:`agent.runtime.AgentRuntime` implements; their answers go through the
outbox, their memory into the agent database (:mod:`agent.storage`).
"""
