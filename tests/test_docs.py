"""Every command of the three CLIs has help and is documented (README or docs/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from agent.cli.main import cli as agent_cli
from cloud_bridge.cli.main import cli as bridge_cli
from cloud_bridge.cli.support import NEEDS_ONE_OF
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


def test_readme_command_table_is_generated_from_the_clis() -> None:
    from tests.support.command_reference import README, current, table

    assert current(README.read_text()) == table(), (
        "README.md's command table differs from the CLIs: run `make readme`"
    )


MARKED = [
    (program, path, command)
    for program, path, command in ALL
    if getattr(command.callback, NEEDS_ONE_OF, ())
]


@pytest.mark.parametrize(
    ("program", "path", "command"),
    MARKED,
    ids=[" ".join([program, *path]) for program, path, _ in MARKED],
)
def test_a_command_marked_as_needing_an_option_fails_without_it(
    program: str, path: list[str], command: click.Command
) -> None:
    needed: tuple[str, ...] = getattr(command.callback, NEEDS_ONE_OF)
    args: list[str] = []
    for param in command.params:
        if isinstance(param, click.Argument):
            args.append("bin-0001")
        elif isinstance(param, click.Option) and param.required:
            args += [param.opts[0], "2026-01-01"]
    result = CliRunner().invoke(CLIS[program], [*path, *args])
    assert result.exit_code == 2, result.output
    assert all(option in result.output for option in needed), result.output
