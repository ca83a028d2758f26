"""The web dashboard: server-rendered pages on the API's FastAPI app, signed sessions.

Mounted beside the REST API by :func:`cloud_bridge.web.app.dashboard_mounter`; roles
and permissions come from :mod:`cloud_bridge.domain.access`, the API's own table.
"""
