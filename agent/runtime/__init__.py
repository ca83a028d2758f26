"""The agent runtime: one bin's periodic work on an injected clock."""

from agent.runtime.core import EDGE_SAFETY_POLL_S, AgentRuntime, InboundHandler, Schedule, StepHook

__all__ = ["EDGE_SAFETY_POLL_S", "AgentRuntime", "InboundHandler", "Schedule", "StepHook"]
