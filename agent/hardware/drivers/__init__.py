"""Drivers for the reference hardware, written against :mod:`agent.hardware.hal` only.

The same driver code runs on a Raspberry Pi (RPi.GPIO, picamera2) and on the pin-level
simulator. Every wait has a deadline, every device reports its health, and a failure
raises :class:`agent.hardware.devices.DeviceError` with a fault code.
"""
