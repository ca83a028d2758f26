"""The edge agent of one bin: state machine, sensors, classifier, outbox and MQTT link."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("revloop")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
