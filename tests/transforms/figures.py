"""Runs a parsed table's transform on real lines with the local KQL engine, as the simulated agent
does, and measures it: rows in and out, and how many got a timestamp, a level and a job id."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from controller.simulator.logs_engine import run_transform
from controller.simulator.textlogs import records
from controller.resources import STREAM_COLUMNS
from controller.transforms import LogFormat, transform

INGESTED = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
# A line names a job when it has one of these (read independently of the transforms, so a
# transform that misses one shows up in the figures).
NAMES_A_JOB = re.compile(r"JobId=\d|StepId=\d|[Bb]atch job \d|^\[[^\]]+\] \[\d+\.\w+\]|/job_\d|SLURM_JOB_ID=\d")


@dataclass
class Figures:
    table: str
    rows_in: int
    rows_out: int
    parsed: int  # matched the format: a timestamp of its own (dmesg: since boot; archive: its file name)
    timestamped: int
    levelled: int
    naming_a_job: int
    with_job: int

    def __add__(self, other: Figures) -> Figures:
        """Two files' figures as one table's."""
        return Figures(self.table, *(getattr(self, f) + getattr(other, f) for f in (
            "rows_in", "rows_out", "parsed", "timestamped", "levelled", "naming_a_job", "with_job")))

    def line(self) -> str:
        def share(n: int, of: int) -> str:
            return f"{n}/{of} ({n / of:.0%})" if of else "0/0"
        return (f"{self.table}: rows in {self.rows_in}, out {self.rows_out}; parsed {share(self.parsed, self.rows_in)}, "
                f"timestamp {share(self.timestamped, self.rows_in)}, level {share(self.levelled, self.rows_in)}, "
                f"job id {share(self.with_job, self.naming_a_job)} of the lines naming one")

    def assert_targets(self) -> None:
        """Every line kept, >= 95% parsed, a job id on >= 95% of the lines that name one."""
        assert self.rows_out == self.rows_in, self.line()
        assert self.parsed >= 0.95 * self.rows_in, self.line()
        assert self.with_job >= 0.95 * self.naming_a_job, self.line()


def run(log_format: LogFormat, process: str, path: str, lines: list[str], table: str):
    """The parsed rows of `lines` of the file `path`, each with its record as `_raw`, and their
    figures. Each record's Computer is its index, so rows find their record whatever the order."""
    cut = records(lines, log_format.record_start)
    columns, out = run_transform(transform(log_format, process), STREAM_COLUMNS,
                                 [(INGESTED, r, str(i), path) for i, r in enumerate(cut)])
    want = [(n, "datetime" if t == "dateTime" else t) for n, t in log_format.columns]
    assert columns == want, columns  # the table's columns and types, in order
    rows = [dict(zip([n for n, _ in columns], r)) for r in out]
    for row in rows:
        row["_raw"] = cut[int(row["Computer"])]
    return rows, Figures(
        table=table, rows_in=len(cut), rows_out=len(rows),
        parsed=sum(_parsed(log_format, r) for r in rows),
        timestamped=sum(r["TimeGenerated"] != INGESTED for r in rows),
        levelled=sum(r["Level"] != "" for r in rows),
        naming_a_job=sum(_names_a_job(log_format, r) for r in cut),
        with_job=sum(r["JobId"] is not None or r.get("ArrayJobId") is not None
                     for r in rows if _names_a_job(log_format, r["_raw"])),
    )


def _names_a_job(log_format: LogFormat, record: str) -> bool:
    """The archive's lines all do (their file's name); others when they say so."""
    return log_format is LogFormat.ARCHIVE or bool(NAMES_A_JOB.search(record))


def _parsed(log_format: LogFormat, row: dict) -> bool:
    if log_format is LogFormat.DMESG:
        return row["BootSeconds"] is not None
    if log_format is LogFormat.ARCHIVE:
        return row["FileKind"] != "" and row["User"] not in ("", None)
    if log_format is LogFormat.PLAIN:
        return True
    return row["TimeGenerated"] != INGESTED
