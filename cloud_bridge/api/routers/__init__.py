"""One APIRouter per resource; :func:`cloud_bridge.api.app.create_app` includes them all."""
