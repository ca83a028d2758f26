"""The bridge's settings: one pydantic model per section, loaded from one TOML file."""
