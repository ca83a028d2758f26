"""Virtual bins: a world model, simulated hardware and fleet runs without a Raspberry Pi."""
