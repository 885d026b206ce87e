"""What the workspace holds: each enabled component's parsed table `<pattern>_CL`, with the
columns its log format's transform gives it (controller/transforms.py), and its raw table beside."""

from __future__ import annotations

from dataclasses import dataclass

from ..components import Component
from ..resources import RAW_COLUMNS

#: What each column means, for the agent writing KQL; the columns themselves are the transforms'.
MEANINGS = {
    "TimeGenerated": "the line's own timestamp; ingestion time when the line has none",
    "Computer": "the machine's host name, from the agent",
    "FilePath": "the file's path on that machine",
    "Level": "fatal, error, warning, info, debug; empty when the line carries none",
    "Process": "the daemon or program (slurmctld, slurmd, slurmstepd, kernel, ...); job for the archive",
    "JobId": "the job's id where the line carries one; null otherwise",
    "StepId": "batch, extern, 0, ... where the line carries one",
    "Message": "the line without timestamp, level and prefix",
    "ArrayJobId": "an array task's array job id, where the line names one",
    "ArrayTaskId": "an array task's task id, where the line names one",
    "User": "the job's user, from the archive file's name",
    "FileKind": "script, environment, stdout or stderr",
    "BootSeconds": "the kernel's stamp: seconds since boot",
    "RawData": "the line, as written",
}
RAW_MEANINGS = {**MEANINGS, "TimeGenerated": "when the agent collected the line"}


def _described(columns: tuple[tuple[str, str], ...], meanings: dict[str, str]) -> tuple[tuple[str, str, str], ...]:
    # KQL spells the table API's dateTime as datetime.
    return tuple((name, kind.lower(), meanings.get(name, "")) for name, kind in columns)


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
            found.append(TableInfo(c.parsed_table, f"{c.description} (parsed)", _described(c.log_format.columns, MEANINGS), True))
            found.append(TableInfo(c.table, f"{c.description} (raw lines, lossless)", _described(RAW_COLUMNS, RAW_MEANINGS), False))
        return found

    def table(self, name: str) -> TableInfo | None:
        return next((t for t in self.tables() if t.name.lower() == name.lower()), None)

    def parsed(self, *patterns: str) -> tuple[str, ...]:
        """The parsed tables of those components that are enabled, in the order asked."""
        enabled = {c.pattern: c for c in self.components}
        return tuple(enabled[p].parsed_table for p in patterns if p in enabled)

    @property
    def all_parsed(self) -> tuple[str, ...]:
        return tuple(c.parsed_table for c in self.components)
