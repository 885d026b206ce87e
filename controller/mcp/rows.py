"""A parsed table's row as the tools read it, and the small parsers of Slurm's own notation."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any

from .answers import Line, short


#: what the tools project from the parsed tables (the contract's columns, and which table)
COLUMNS = "TimeGenerated, SourceTable, Computer, Level, Process, JobId, StepId, Message"


@dataclass(frozen=True)
class Row:
    time: _dt.datetime | None
    table: str
    computer: str = ""
    level: str = ""
    process: str = ""
    job_id: int | None = None
    step: str = ""
    kind: str = ""  # the archive's FileKind
    user: str = ""
    message: str = ""

    @classmethod
    def of(cls, record: dict[str, Any]) -> "Row":
        job = record.get("JobId")
        return cls(
            time=as_time(record.get("TimeGenerated")),
            table=str(record.get("SourceTable") or ""),
            computer=str(record.get("Computer") or ""),
            level=str(record.get("Level") or ""),
            process=str(record.get("Process") or ""),
            job_id=int(job) if job is not None else None,
            step=str(record.get("StepId") or ""),
            kind=str(record.get("FileKind") or ""),
            user=str(record.get("User") or ""),
            message=str(record.get("Message") or ""),
        )

    def line(self) -> Line:
        return Line(time=self.time, table=self.table, computer=self.computer, level=self.level,
                    process=self.process, message=short(self.message))


def as_time(value: Any) -> _dt.datetime | None:
    if value is None or isinstance(value, _dt.datetime):
        return value
    parsed = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)


_RANGE = re.compile(r"^([^\[\],]*)\[([^\]]+)\](.*)$")


def hostlist(expression: str) -> list[str]:
    """Slurm's host list notation: ``hpc-[1-3,7],login-1`` -> each host (one level of brackets,
    zero-padded ranges kept: ``n[01-02]`` -> n01, n02)."""
    hosts: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\][^,\[]*)*", expression):
        part = part.strip().strip(",")
        match = _RANGE.match(part)
        if not match:
            if part and part != "(null)":
                hosts.append(part)
            continue
        prefix, ranges, suffix = match.groups()
        for item in ranges.split(","):
            low, _, high = item.partition("-")
            width = len(low)
            for n in range(int(low), int(high or low) + 1):
                hosts.append(f"{prefix}{n:0{width}d}{suffix}")
    return hosts
