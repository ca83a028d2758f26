"""A city of sensor bins, simulated fast enough to compare collection policies.

``bin-sim city`` builds one seeded world (:mod:`simulator.city.world`: bins with mixed
containers over a city-sized area, visitors with the world model's daily and weekly
rhythm, noisy sensors with wild readings and failures, a depot and a fleet of collection
vehicles) and runs every policy of :mod:`simulator.city.policies` on it: ``fixed``
(a weekly calendar, the best a city does without sensors), ``threshold``, ``revloop``
(the bridge's own processor, pickup service, forecasts and OR-Tools routes, fed in
process on a simulated clock) and ``oracle`` (perfect knowledge of the future, the lower
bound). :mod:`simulator.city.runner` runs them and :mod:`simulator.city.metrics` tells
what each cost and how often bins overflowed.
"""
