"""``bin-bridge``'s commands, one module per audience, with the helpers and the API client
they share.
"""
