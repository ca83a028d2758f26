"""Loading the device configuration from TOML, with errors that name the key.

Relative paths in the file (storage, model, TLS files, photos) are resolved against
the file's own directory, after ``~`` and ``$VARS`` are expanded, so a configuration
means the same thing whatever the working directory of the agent.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from firmware_config.errors import ConfigError, ConfigIssue
from firmware_config.schema import DeviceConfig, Hardware

PROFILES_DIR = Path(__file__).parent / "profiles"
_PATH_FIELDS = (
    ("storage", "path"),
    ("classifier", "model"),
    ("simulation", "images_dir"),
    ("broker", "tls", "ca_file"),
    ("broker", "tls", "cert_file"),
    ("broker", "tls", "key_file"),
)


def profile_path(name: str) -> Path:
    """The path of a profile shipped with the package, e.g. ``sim-device``."""
    path = PROFILES_DIR / f"{name}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))
        raise ConfigError(name, [ConfigIssue("(profile)", f"no such profile; known: {known}")])
    return path


def load_config(path: Path | str) -> DeviceConfig:
    """Read and validate a configuration file; raise :class:`ConfigError` listing every issue."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(path, [ConfigIssue("(file)", err.strerror or str(err))]) from None
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        message = f"not UTF-8 text: byte 0x{err.object[err.start]:02x} ({err.reason})"
        raise ConfigError(path, [ConfigIssue("(file)", message, line)]) from None
    return parse_config(text, source=path, base_dir=path.resolve().parent)


def parse_config(
    text: str, *, source: Path | str = "<string>", base_dir: Path | None = None
) -> DeviceConfig:
    """Validate configuration text; relative paths resolve against ``base_dir``.

    A file must say which hardware it drives: ``hardware.backend`` has a default for
    configurations built in code, but a file without it could run the simulator on a
    real bin and publish invented fill levels, so a file is rejected without it.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        line = _toml_error_line(str(err))
        raise ConfigError(source, [ConfigIssue("(toml)", str(err), line)]) from None
    hardware = data.get("hardware")
    missing_backend = not isinstance(hardware, dict) or "backend" not in hardware
    try:
        config = validate_config(data, source=source, base_dir=base_dir, text=text)
    except ConfigError as err:
        if missing_backend:
            err.issues.append(_missing_backend(text))
            raise ConfigError(source, err.issues) from None
        raise
    if missing_backend:
        raise ConfigError(source, [_missing_backend(text)])
    return config


def _missing_backend(text: str) -> ConfigIssue:
    backends = get_args(Hardware.model_fields["backend"].annotation)
    simulators = " or ".join(f"'{name}'" for name in backends if name != "rpi")
    return ConfigIssue(
        "hardware.backend",
        f"required key is missing: 'rpi' on a real bin, {simulators} for a simulator "
        "(a configuration file never falls back to the simulator)",
        _find_line(text, ("hardware",)),
    )


def validate_config(
    data: dict[str, Any],
    *,
    source: Path | str = "<dict>",
    base_dir: Path | None = None,
    text: str | None = None,
) -> DeviceConfig:
    """Validate a configuration mapping (as parsed from TOML or merged remotely)."""
    try:
        config = DeviceConfig.model_validate(data)
    except ValidationError as err:
        issues = [_issue(item, text) for item in err.errors(include_url=False)]
        raise ConfigError(source, issues) from None
    if base_dir is not None:
        _resolve_paths(config, base_dir)
    return config


def _resolve_paths(config: DeviceConfig, base_dir: Path) -> None:
    for field_path in _PATH_FIELDS:
        owner: Any = config
        for part in field_path[:-1]:
            owner = getattr(owner, part)
        value = getattr(owner, field_path[-1])
        if value is None:
            continue
        expanded = Path(os.path.expandvars(os.path.expanduser(str(value))))
        if not expanded.is_absolute():
            expanded = base_dir / expanded
        setattr(owner, field_path[-1], expanded)


def _issue(item: Any, text: str | None) -> ConfigIssue:
    loc = tuple(part for part in item["loc"] if not _is_pydantic_tag(part))
    path = ".".join(str(part) for part in loc) or "(root)"
    message = str(item["msg"])
    if item["type"] == "extra_forbidden":
        message = "unknown key"
        suggestion = _did_you_mean(loc)
        if suggestion:
            message += f"; did you mean '{suggestion}'?"
    elif item["type"] == "missing":
        message = "required key is missing"
    elif message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    line = _find_line(text, loc) if text else None
    return ConfigIssue(path, message, line)


def _is_pydantic_tag(part: object) -> bool:
    return isinstance(part, str) and ("[" in part or part.startswith("constrained-"))


def _did_you_mean(loc: tuple[Any, ...]) -> str | None:
    model: type[BaseModel] | None = DeviceConfig
    for part in loc[:-1]:
        if model is None:
            return None
        field = model.model_fields.get(str(part))
        annotation = field.annotation if field else None
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    if model is None:
        return None
    matches = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _find_line(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a key path in TOML text (tables and dotted keys)."""
    keys = [str(part) for part in loc if not isinstance(part, int)]
    if not keys:
        return None
    table: list[str] = []
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+\s*(#.*)?$")
    assignment = re.compile(r"^\s*([A-Za-z0-9_.\"-]+)\s*=")
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = header.match(line)
        if match:
            table = [part.strip().strip('"') for part in match.group(1).split(".")]
            if table == keys:
                best = number
            continue
        match = assignment.match(line)
        if match:
            full = table + [part.strip().strip('"') for part in match.group(1).split(".")]
            if full == keys:
                return number
            if best is None and keys[: len(full)] == full:
                best = number
    return best


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None
