"""Every command of the three CLIs has help and is documented (README or docs/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agent.cli.main import cli as agent_cli
from cloud_bridge.cli.main import cli as bridge_cli
from simulator.cli import cli as sim_cli

ROOT = Path(__file__).resolve().parents[1]
CLIS = {"bin-agent": agent_cli, "bin-bridge": bridge_cli, "bin-sim": sim_cli}


def commands(
    prefix: list[str], command: click.Command
) -> Iterator[tuple[list[str], click.Command]]:
    yield prefix, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from commands([*prefix, name], sub)


ALL = [
    (program, path, command)
    for program, root in CLIS.items()
    for path, command in commands([], root)
]


def documentation() -> str:
    texts = [(ROOT / "README.md").read_text()]
    texts += [p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(texts)


@pytest.mark.parametrize(
    ("program", "path", "command"),
    ALL,
    ids=[" ".join([program, *path]) for program, path, _ in ALL],
)
def test_command_has_help_and_is_documented(
    program: str, path: list[str], command: click.Command
) -> None:
    assert command.help, f"{program} {' '.join(path)} has no help text"
    result = CliRunner().invoke(CLIS[program], [*path, "--help"])
    assert result.exit_code == 0, result.output
    if path:
        # Documented: some line names the program, then every word of the command in order.
        def names(line: str) -> bool:
            position = line.find(f"{program} ")
            if position < 0:
                return False
            for word in path:
                position = line.find(word, position)
                if position < 0:
                    return False
            return True

        assert any(names(line) for line in documentation().splitlines()), (
            f"`{program} {' '.join(path)}` is not mentioned in README.md or docs/"
        )
