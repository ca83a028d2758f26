"""The bridge's link to the broker, and nothing else."""
