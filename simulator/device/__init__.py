"""The device-level simulated bin: its physics, sensors, camera, faults and the ``sim-
device`` backend.
"""
