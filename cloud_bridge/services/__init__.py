"""The policies run on the writer thread: pickups, forecasts, tickets, remote commands and
configuration.
"""
