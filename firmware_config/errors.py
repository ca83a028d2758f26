"""Errors of the configuration package."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in a configuration: where it is and what is wrong."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.path}{where}: {self.message}"


class ConfigError(ValueError):
    """A configuration file could not be read or did not validate.

    ``issues`` lists every problem found, each naming its key path.
    """

    def __init__(self, source: Path | str, issues: list[ConfigIssue]) -> None:
        self.source = str(source)
        self.issues = issues
        details = "; ".join(str(issue) for issue in issues)
        super().__init__(f"{self.source}: {details}")
