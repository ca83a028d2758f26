"""Helpers shared by the test suite (real brokers, waiting without sleeping)."""
