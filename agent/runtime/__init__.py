"""The agent runtime: one bin's periodic work on an injected clock.

:class:`AgentRuntime` (in :mod:`agent.runtime.core`) runs the parts that do the work,
one module each: scheduling, durable writes, alarms and faults, the door lock,
deposits, the container, the door and network watches, reports and the inbox.
"""

from agent.runtime.core import EDGE_SAFETY_POLL_S, AgentRuntime, StepHook
from agent.runtime.inbox import InboundHandler
from agent.runtime.schedule import Schedule

__all__ = ["EDGE_SAFETY_POLL_S", "AgentRuntime", "InboundHandler", "Schedule", "StepHook"]
