"""Records and pure rules of the bridge, with no I/O: bins, pickups, the forecast, ticket
findings.
"""
