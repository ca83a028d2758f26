"""Hardware abstraction: pin, camera, clock and 1-wire interfaces and their real backends.

Nothing here knows the drivers (:mod:`agent.hardware.drivers`) written against it; the backend
that assembles them on these interfaces is :mod:`agent.hardware.rpi`.
"""
