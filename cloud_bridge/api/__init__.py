"""The bridge's REST API: FastAPI routers per resource, token auth per role."""
