"""A job's whole story (2 Logs queries), and the jobs that failed in a period (1)."""

from __future__ import annotations

import datetime as _dt
import re

from .answers import FailedJob, FailedJobs, JobStory, TimeRange, fit, short
from .classify import classify
from .redact import redacted
from .rows import COLUMNS, Row, hostlist
from .workspace import Asking, kql_string

JOB_ROWS = 5000  # a job's own lines: the archive caps each file (64 KiB by default)
NODE_ROWS = 200
NODES_ASKED = 50  # a larger job's other nodes are left out of its node lines (the answer says so)
FAILED_ROWS = 5000
TAIL = 500  # lines of stdout/stderr read; the byte budget cuts further
MARGIN = _dt.timedelta(minutes=2)  # around the job's window, for the lines that led to its end
_ALLOCATE = re.compile(r"Allocate JobId=\S+ NodeList=(\S+)")
_DONE = re.compile(r"_job_complete: JobId=\S+ done")
_JOB_TABLES = ("slurmctld", "slurmd", "slurmjobs", "dmesg", "syslog")
_NODE_TABLES = ("slurmd", "dmesg", "syslog")


def _projection(tables: tuple[str, ...], archive: tuple[str, ...]) -> str:
    return COLUMNS + (", FileKind, User" if set(archive) & set(tables) else "")


def job_story(asking: Asking, job_id: int, days: float, max_bytes: int) -> JobStory:
    now = asking.workspace.now()
    start = now - _dt.timedelta(days=days)
    tables = asking.catalog.parsed(*_JOB_TABLES)
    archive = asking.catalog.parsed("slurmjobs")
    own = asking.ask(
        f"union withsource=SourceTable {', '.join(tables)}\n| where JobId == {int(job_id)}\n"
        f"| project {_projection(tables, archive)}\n| take {JOB_ROWS + 1}", start, now, tables)
    rows = sorted((Row.of(r) for r in own.records()[:JOB_ROWS]), key=lambda r: r.time or now)  # stable: file order kept
    story = JobStory(job_id=job_id, found=bool(rows), time_range=TimeRange(start=start, end=now),
                     truncated=len(own.rows) > JOB_ROWS or own.partial)
    if not rows:
        story.more = f"no line names job {job_id} in the last {days:g} days: widen `days`, or check it ran on this cluster"
        story.source = asking.source()
        return story
    environment = {e.partition("=")[0]: e.partition("=")[2] for e in (r.message for r in rows if r.kind == "environment")}
    nodes = _nodes(rows, environment)
    started, ended = _window(rows)
    node_rows = _node_lines(asking, nodes, started - MARGIN, ended + MARGIN) if nodes else []
    story.truncated |= len(nodes) > NODES_ASKED
    verdict = classify(rows + node_rows, owner=lambda uid: _owner(uid, environment))
    story.state, story.exit_code, story.reason = verdict.state, verdict.exit_code, verdict.reason
    story.classification = verdict.classification
    story.user = next((r.user for r in rows if r.user), environment.get("SLURM_JOB_USER", ""))
    story.nodes, story.started, story.ended = nodes, started, ended
    story.script = [short(r.message) for r in rows if r.kind == "script"]
    story.environment = [short(redacted(r.message)) for r in rows if r.kind == "environment"]
    for kind in ("stdout", "stderr"):
        lines = [short(r.message) for r in rows if r.kind == kind]
        setattr(story, f"{kind}_tail", lines[-TAIL:])
        story.truncated |= len(lines) > TAIL
    story.job_lines = [r.line() for r in rows if not r.kind]
    story.node_lines = [r.line() for r in node_rows]
    story.source = asking.source()
    fit(story, max_bytes, f"cut to {max_bytes} bytes: raise `max_bytes`, or run_kql over {', '.join(tables)} "
                          f"`| where JobId == {job_id}` (FileKind == \"stdout\" for the whole output)")
    return story


def _nodes(rows: list[Row], environment: dict[str, str]) -> list[str]:
    for row in rows:
        if m := _ALLOCATE.search(row.message):
            return hostlist(m[1])
    if environment.get("SLURM_JOB_NODELIST"):
        return hostlist(environment["SLURM_JOB_NODELIST"])
    return sorted({r.computer for r in rows if r.table.startswith("slurmd") and r.computer})


def _window(rows: list[Row]) -> tuple[_dt.datetime, _dt.datetime]:
    """From slurmctld's allocation to its ``done`` line; the job's first and last line otherwise."""
    times = [r.time for r in rows if r.time]
    started = next((r.time for r in rows if r.time and _ALLOCATE.search(r.message)), min(times))
    ended = next((r.time for r in reversed(rows) if r.time and _DONE.search(r.message)), max(times))
    return started, ended


def _node_lines(asking: Asking, nodes: list[str], start: _dt.datetime, end: _dt.datetime) -> list[Row]:
    """The lines of the job's nodes in its window that name no job (its own are in the first
    query): the kernel's, slurmd's and syslog's from the nodes, slurmctld's about them (a drain
    after a failed prolog, a node not responding)."""
    ctld, own = asking.catalog.parsed("slurmctld"), asking.catalog.parsed(*_NODE_TABLES)
    if not ctld + own:
        return []
    named = nodes[:NODES_ASKED]
    about = " or ".join(f"Message contains {kql_string(n)}" for n in named)
    on = (f"(SourceTable in ({', '.join(kql_string(t) for t in own)}) and Computer in~ "
          f"({', '.join(kql_string(n) for n in named)}))") if own else "false"
    said = f" or (SourceTable in ({', '.join(kql_string(t) for t in ctld)}) and ({about}))" if ctld else ""
    found = asking.ask(
        f"union withsource=SourceTable {', '.join(ctld + own)}\n| where isnull(JobId) and ({on}{said})\n"
        f"| where Level in (\"fatal\", \"error\", \"warning\") or Process == \"kernel\"\n"
        f"| project {COLUMNS}\n| take {NODE_ROWS}", start, end, ctld + own)
    return sorted((Row.of(r) for r in found.records()), key=lambda r: r.time or start)


def _owner(uid: int, environment: dict[str, str]) -> str:
    if uid == 0:
        return "root (uid 0)"
    if str(uid) == environment.get("SLURM_JOB_UID"):
        return f"the job's own user {environment.get('SLURM_JOB_USER', '')} (uid {uid})".replace("  ", " ")
    return f"uid {uid}"


_FAILED_WORDS = ("WEXITSTATUS", "WTERMSIG", "Time limit exhausted", "REQUEST_KILL_JOB", "failed node", "NODE_FAIL",
                 "Allocate JobId", "prolog", "epilog")


def failed_jobs(asking: Asking, since: _dt.datetime, until: _dt.datetime, limit: int, max_bytes: int) -> FailedJobs:
    """Jobs that ended other than with exit 0, from slurmctld's lines (one query); for why,
    ``job_story`` each."""
    tables = asking.catalog.parsed("slurmctld")
    words = " or ".join(f"Message contains {kql_string(w)}" for w in _FAILED_WORDS)
    answer = FailedJobs(time_range=TimeRange(start=since, end=until))
    if not tables:
        answer.more = "the slurmctld component is not enabled: nothing tells how jobs ended"
        return answer
    columns = COLUMNS.replace("SourceTable, ", "")
    found = asking.ask(f"{tables[0]}\n| where isnotnull(JobId) and ({words})\n| project {columns}\n"
                       f"| take {FAILED_ROWS + 1}", since, until, tables)
    by_job: dict[int, list[Row]] = {}
    for row in (Row.of({**r, "SourceTable": tables[0]}) for r in found.records()[:FAILED_ROWS]):
        by_job.setdefault(row.job_id, []).append(row)
    for job_id, rows in sorted(by_job.items()):
        rows.sort(key=lambda r: r.time or since)
        verdict = classify(rows)
        if verdict.state in ("COMPLETED", ""):
            continue  # done with exit 0, or still running (a cancel or time limit has no completion line)
        allocated = next((hostlist(m[1]) for r in rows if (m := _ALLOCATE.search(r.message))), [])
        answer.jobs.append(FailedJob(job_id=job_id, state=verdict.state, exit_code=verdict.exit_code,
                                     reason=verdict.reason, ended=rows[-1].time, nodes=allocated))
    answer.truncated = len(found.rows) > FAILED_ROWS or found.partial or len(answer.jobs) > limit
    answer.jobs = answer.jobs[-limit:]
    answer.source = asking.source()
    answer.more = "job_story(job_id) gives each one's evidence"
    fit(answer, max_bytes, "the latest jobs are kept: raise `limit` or `max_bytes`, or narrow `hours`")
    return answer
