"""The cloud bridge: ingests what the bins report, keeps fleet state, raises pickups."""
