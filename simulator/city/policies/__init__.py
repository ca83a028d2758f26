"""The collection policies compared on one city: one module each.

``fixed`` (a weekly calendar per bin), ``threshold`` (collect what reported a fill over
the region's threshold), ``revloop`` (the bridge's pickup policy, forecasts and routes,
run in process) and ``oracle`` (knows every bin's future: the lower bound).
"""

from __future__ import annotations

from simulator.city.policies.base import Policy, RunContext
from simulator.city.policies.fixed import FixedPolicy
from simulator.city.policies.oracle import OraclePolicy
from simulator.city.policies.revloop import RevloopPolicy
from simulator.city.policies.threshold import ThresholdPolicy

POLICIES: dict[str, type[Policy]] = {
    policy.name: policy for policy in (FixedPolicy, ThresholdPolicy, RevloopPolicy, OraclePolicy)
}
"""Every policy by name, in the order the table shows them."""

__all__ = ["POLICIES", "Policy", "RunContext"]
