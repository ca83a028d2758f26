"""How ``bin-bridge`` prints its tables so they stay readable: in a narrow terminal, in a
pipe, and with ids a person copies whole.

- No cell is ever shortened with an ellipsis: every column folds what does not fit onto
  the next line, and id columns never wrap, so an id is always whole on one line.
- A table that cannot fit the terminal even so (its narrowest layout is wider) is
  printed as one block per row instead, each value under its column's name: a 60
  column terminal still shows every id whole and every value in full.
- Piped into another program (``| grep``, ``| less``, a file), the table is as wide as
  its rows: each row stays on one line, whatever width the terminal would have had.
  ``COLUMNS`` still decides when it is set.
"""

from __future__ import annotations

import os
import sys

from rich import box
from rich.console import Console, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

PIPE_WIDTH = 1000
"""The width of a table printed into a pipe: wide enough for any row on one line."""


def new_table(title: str) -> Table:
    """A table with light rules and no edges (more room for the columns)."""
    return Table(title=title, box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)


def add_columns(table: Table, *names: str, ids: tuple[str, ...] = ()) -> None:
    """Columns that fold rather than cut; those named in ``ids`` never wrap."""
    for name in names:
        table.add_column(name, overflow="fold", no_wrap=name in ids)


def table_console() -> Console:
    """The terminal's console; in a pipe (``COLUMNS`` unset), one as wide as the rows."""
    if sys.stdout.isatty() or "COLUMNS" in os.environ:
        return Console()
    return Console(width=PIPE_WIDTH)


def _ranges(table: Table, console: Console) -> tuple[list[tuple[int, int]], int]:
    """Each column's (narrowest, widest) content width, and what the table adds to them
    (padding, rules): measured unconstrained, as rich clamps measures to the width given."""
    wide = console.options.update_width(PIPE_WIDTH * 100)
    ranges = []
    for column in table.columns:
        found = [Measurement.get(console, wide, cell) for cell in (column.header, *column.cells)]
        widest = max(m.maximum for m in found)
        ranges.append((widest if column.no_wrap else max(m.minimum for m in found), widest))
    overhead = Measurement.get(console, wide, table).maximum - sum(hi for _, hi in ranges)
    return ranges, overhead


def fits(table: Table, console: Console) -> bool:
    """Whether ``table`` fits the console without breaking a word (or an id)."""
    ranges, overhead = _ranges(table, console)
    return sum(lo for lo, _ in ranges) + overhead <= console.width


def _share(table: Table, console: Console) -> bool:
    """Give each column at least its longest word, the rest of the width by need; False
    if even the longest words do not fit."""
    ranges, overhead = _ranges(table, console)
    room = console.width - overhead
    narrowest, widest = sum(lo for lo, _ in ranges), sum(hi for _, hi in ranges)
    if narrowest > room:
        return False
    if widest <= room:
        return True
    # Columns that need little more than their longest word (dates, counts) get all of
    # it first, so only the long texts wrap; those share what is left by need.
    widths = [lo for lo, _ in ranges]
    spare = room - narrowest
    order = sorted(range(len(ranges)), key=lambda i: ranges[i][1] - ranges[i][0])
    for position, index in enumerate(order):
        lo, hi = ranges[index]
        if hi - lo <= spare:
            widths[index], spare = hi, spare - (hi - lo)
            continue
        rest = order[position:]
        wanted = sum(ranges[i][1] - ranges[i][0] for i in rest)
        for i in rest:
            widths[i] += (ranges[i][1] - ranges[i][0]) * spare // wanted
        break
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width
    return True


def as_blocks(table: Table) -> RenderableType:
    """The table as one block per row: each value under its column's name."""
    columns = [(str(column.header), list(column.cells)) for column in table.columns]
    rows = max((len(cells) for _, cells in columns), default=0)
    parts: list[RenderableType] = []
    if table.title:
        parts.append(Text.from_markup(str(table.title), style="bold"))
    for index in range(rows):
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for header, cells in columns:
            cell = cells[index] if index < len(cells) else ""
            if cell != "":
                grid.add_row(header, cell)
        parts += [Text(""), grid]
    return Group(*parts)


def fitted(table: Table, console: Console) -> RenderableType:
    """The table itself where it fits (its columns given their widths), else as blocks."""
    return table if _share(table, console) else as_blocks(table)


def print_table(table: Table, console: Console | None = None) -> None:
    """Print ``table`` readable on this console (see the module's rules)."""
    console = console or table_console()
    console.print(fitted(table, console))
