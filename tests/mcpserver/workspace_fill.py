"""Puts files' lines into the simulated workspace's parsed tables, as the agent would.

STAND-IN, to be replaced: the parsed tables (issue 11, branch `parsed`) are not on main yet, so
this module parses each line itself, per the column contract (/work/prompts/parsed_schema.md,
README "Parsed tables"), creates the `<pattern>_CL` tables and writes the rows into the
simulator's store. Once the simulated agent runs each DCR's transformKql, `feed` becomes

    for machine, files in machines.items():
        for path, lines in files.items():
            sim.append_lines(machine, path, lines)
    sim.tick()

after the CLI's `run --once` made the DCRs and tables, and everything below `feed` goes. The
tests call only `feed`, so they stay as they are.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import re
from pathlib import PurePosixPath

from controller.components import default_config_path, load_components
from controller.mcp.catalog import ARCHIVE_COLUMNS, COMMON_COLUMNS, parsed_table
from tests.support import RG

_DAEMON = re.compile(r"^\[(?P<ts>\d{4}-\d\d-\d\dT[\d:.]+)\] (?:\[(?P<job>\d+)\.(?P<step>\w+)\] )?"
                     r"(?:(?P<level>error|fatal|warning|info|verbose|debug\d?): +)?(?P<msg>.*)$")
_JOB_IN_MESSAGE = re.compile(r"\b(?:JobId=(?:\d+_\d+\()?|StepId=|job_)(\d+)")
_DMESG = re.compile(r"^\[\s*\d+\.\d+\] (?P<msg>.*)$")
_ARCHIVE = re.compile(r"/job_(?P<job>\d+)(?:_\d+)?\.(?P<user>[^/]+)\.(?P<ext>sh|env|out|err)$")
_KINDS = {"sh": "script", "env": "environment", "out": "stdout", "err": "stderr"}
_LEVELS = {"verbose": "info", "debug2": "debug", "debug3": "debug"}


def feed(sim, machines: dict[str, dict[str, list[str]]], at: _dt.datetime | None = None) -> int:
    """``machines``: machine id -> {file path: its lines}. ``at``: when the agent collects them
    (the time of lines that carry none). Returns the rows written."""
    at = at or sim.clock()
    workspace_id = sim.resource_id(RG, "Microsoft.OperationalInsights/workspaces", "logs")
    customer = sim.get(workspace_id)["properties"]["customerId"].lower()
    components = load_components(default_config_path())
    for component in components:  # as `run --once` makes every enabled component's tables
        table = parsed_table(component)
        if sim.get(f"{workspace_id}/tables/{table}") is None:
            extra = ARCHIVE_COLUMNS if component.pattern == "slurmjobs" else ()
            sim.add_table(workspace_id, table, [(n, t) for n, t, _ in COMMON_COLUMNS + extra])
    written = 0
    for machine, files in machines.items():
        computer = sim.get(machine)["properties"]["osProfile"]["computerName"]
        for path, lines in files.items():
            component = next(c for c in components if any(fnmatch.fnmatch(path, f) for f in c.files))
            table = parsed_table(component)
            rows = [_row(component.pattern, path, line, computer, at) for line in lines]
            with sim._lock:  # the stand-in's one reach into the simulator (see the docstring)
                sim._log_rows.setdefault((customer, table.lower()), []).extend(rows)
            written += len(rows)
    return written


def _row(pattern: str, path: str, line: str, computer: str, at: _dt.datetime) -> dict:
    row = {"TimeGenerated": at, "Computer": computer, "FilePath": path, "Level": "", "Process": "", "JobId": None,
           "StepId": "", "Message": line, "_ResourceId": ""}
    if pattern in ("slurmctld", "slurmd", "slurmdb"):
        m = _DAEMON.match(line)
        if m:
            row["TimeGenerated"] = _dt.datetime.fromisoformat(m["ts"]).replace(tzinfo=_dt.timezone.utc)
            level = m["level"] or ""
            row["Level"] = _LEVELS.get(level, level)
            row["Message"] = m["msg"]
            row["StepId"] = m["step"] or ""
            job = m["job"] or (j[1] if (j := _JOB_IN_MESSAGE.search(m["msg"])) else None)
            row["JobId"] = int(job) if job else None
        row["Process"] = "slurmstepd" if row["StepId"] else {"slurmdb": "slurmdbd"}.get(pattern, pattern)
    elif pattern == "dmesg":
        m = _DMESG.match(line)
        row["Process"] = "kernel"
        row["Message"] = m["msg"] if m else line
        job = _JOB_IN_MESSAGE.search(line)
        row["JobId"] = int(job[1]) if job else None
    elif pattern == "slurmjobs":
        m = _ARCHIVE.search(path)
        row.update(Process="job", JobId=int(m["job"]), User=m["user"], FileKind=_KINDS[m["ext"]])
    else:
        row["Process"] = PurePosixPath(path).stem
    return row
