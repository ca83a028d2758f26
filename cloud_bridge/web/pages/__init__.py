"""The dashboard's pages beyond sign-in and the fleet, one module per page or audience,
each with its own router; :func:`routers` lists them for
:func:`cloud_bridge.web.app.mount_dashboard`."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    """Every page module's router, in the order they are registered."""
    from cloud_bridge.web.pages import bins, facility, impact, pickups

    return [pickups.router, bins.router, facility.router, impact.router]


__all__ = ["routers"]
