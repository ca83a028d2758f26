"""Device configuration: the schema, the TOML loader and the shipped profiles."""

from firmware_config.errors import ConfigError, ConfigIssue
from firmware_config.loader import (
    PROFILES_DIR,
    load_config,
    parse_config,
    profile_path,
    validate_config,
)
from firmware_config.remote import REMOTE_SECTIONS, merge_remote
from firmware_config.schema import DeviceConfig

__all__ = [
    "PROFILES_DIR",
    "REMOTE_SECTIONS",
    "ConfigError",
    "ConfigIssue",
    "DeviceConfig",
    "load_config",
    "merge_remote",
    "parse_config",
    "profile_path",
    "validate_config",
]
