"""What the workspace holds: the parsed tables of the enabled components and their columns
(the parsed tables' contract, issue 11), the raw tables beside them."""

from __future__ import annotations

from dataclasses import dataclass

from ..components import Component

#: Every parsed table has these, same names and types, so one ``union`` spans them.
COMMON_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("TimeGenerated", "datetime", "the line's own timestamp; ingestion time when the line has none"),
    ("Computer", "string", "the machine's host name, from the agent"),
    ("FilePath", "string", "the file's path on that machine"),
    ("Level", "string", "fatal, error, warning, info, debug; empty when the line carries none"),
    ("Process", "string", "the daemon or program (slurmctld, slurmd, slurmstepd, kernel, ...); job for the archive"),
    ("JobId", "long", "the job's id where the line carries one; null otherwise"),
    ("StepId", "string", "batch, extern, 0, ... where the line carries one"),
    ("Message", "string", "the line without timestamp, level and prefix"),
)
ARCHIVE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("User", "string", "the job's user, from the archive file's name"),
    ("FileKind", "string", "script, environment, stdout or stderr"),
)
RAW_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("TimeGenerated", "datetime", "when the agent collected the line"),
    ("RawData", "string", "the line, as written"),
    ("Computer", "string", "the machine's host name"),
    ("FilePath", "string", "the file's path on that machine"),
)
ARCHIVE_PATTERN = "slurmjobs"


def parsed_table(component: Component) -> str:
    return f"{component.pattern}_CL"


@dataclass(frozen=True)
class TableInfo:
    name: str
    description: str
    columns: tuple[tuple[str, str, str], ...]
    parsed: bool


@dataclass(frozen=True)
class Catalog:
    """The tables of the enabled components, by the role they play in an answer."""

    components: tuple[Component, ...]

    def tables(self) -> list[TableInfo]:
        found = []
        for c in self.components:
            extra = ARCHIVE_COLUMNS if c.pattern == ARCHIVE_PATTERN else ()
            found.append(TableInfo(parsed_table(c), f"{c.description} (parsed)", COMMON_COLUMNS + extra, True))
            found.append(TableInfo(c.table, f"{c.description} (raw lines, lossless)", RAW_COLUMNS, False))
        return found

    def table(self, name: str) -> TableInfo | None:
        return next((t for t in self.tables() if t.name.lower() == name.lower()), None)

    def parsed(self, *patterns: str) -> tuple[str, ...]:
        """The parsed tables of those components that are enabled, in the order asked."""
        enabled = {c.pattern: c for c in self.components}
        return tuple(parsed_table(enabled[p]) for p in patterns if p in enabled)

    @property
    def all_parsed(self) -> tuple[str, ...]:
        return tuple(parsed_table(c) for c in self.components)
