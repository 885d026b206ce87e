"""The tools' answers: typed (clients get a JSON schema and structured content), and bounded.

Every answer says whether it was ``truncated``, the ``time_range`` it covers, its ``source``
(tables, and how many Logs queries it took) and, in ``more``, how to get the rest. :func:`fit`
cuts an answer's lists until its JSON is within the byte budget."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

DEFAULT_MAX_BYTES = 8192
LINE_CHARS = 400  # a longer line is cut: one huge line must not take the whole budget


class TimeRange(BaseModel):
    start: _dt.datetime
    end: _dt.datetime


class Source(BaseModel):
    tables: list[str] = Field(default_factory=list)
    queries: int = Field(0, description="Logs queries this answer took")
    bytes_read: int = Field(0, description="JSON bytes of the rows those queries returned")
    other: list[str] = Field(default_factory=list, description="what else was read (Azure Resource Manager)")


class Bounded(BaseModel):
    truncated: bool = False
    time_range: TimeRange | None = None
    source: Source = Field(default_factory=Source)
    more: str = Field("", description="how to get what was left out")
    # (field, end kept) in the order they are cut: "tail" keeps a list's last items
    trim: ClassVar[tuple[tuple[str, Literal["head", "tail"]], ...]] = ()


class Line(BaseModel):
    time: _dt.datetime | None
    table: str
    computer: str = ""
    level: str = ""
    process: str = ""
    message: str


class Evidence(BaseModel):
    rule: str
    line: Line


class Classification(BaseModel):
    category: Literal["completed", "non_zero_exit", "time_limit", "cancelled", "out_of_memory", "node_failure",
                      "prolog_epilog_failure", "command_not_found", "unknown"]
    summary: str
    evidence: list[Evidence] = Field(default_factory=list, description="the lines that decided it, cited")


class JobStory(Bounded):
    job_id: int
    found: bool
    state: str = Field("", description="Slurm's state: COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL")
    exit_code: int | None = None
    reason: str = ""
    user: str = ""
    nodes: list[str] = Field(default_factory=list)
    started: _dt.datetime | None = None
    ended: _dt.datetime | None = None
    classification: Classification | None = None
    script: list[str] = Field(default_factory=list)
    environment: list[str] = Field(default_factory=list, description="NAME=value; secrets are <redacted>")
    stdout_tail: list[str] = Field(default_factory=list)
    stderr_tail: list[str] = Field(default_factory=list)
    job_lines: list[Line] = Field(default_factory=list, description="slurmctld/slurmd lines naming the job")
    node_lines: list[Line] = Field(default_factory=list, description="lines of its nodes in its window (kernel, slurmd, syslog)")
    trim: ClassVar = (("node_lines", "head"), ("environment", "head"), ("job_lines", "tail"), ("script", "head"),
                      ("stdout_tail", "tail"), ("stderr_tail", "tail"))


class FailedJob(BaseModel):
    job_id: int
    state: str
    exit_code: int | None = None
    reason: str = ""
    ended: _dt.datetime | None = None
    nodes: list[str] = Field(default_factory=list)


class FailedJobs(Bounded):
    jobs: list[FailedJob] = Field(default_factory=list)
    trim: ClassVar = (("jobs", "tail"),)


class TableCoverage(BaseModel):
    table: str
    last_record: _dt.datetime | None


class NodeHealth(Bounded):
    node: str
    agent: str = Field("", description="sending, silent (no heartbeat in 10 minutes) or never seen")
    last_heartbeat: _dt.datetime | None = None
    coverage: list[TableCoverage] = Field(default_factory=list)
    drains: list[Line] = Field(default_factory=list, description="slurmctld lines draining it, or not responding")
    errors: list[Line] = Field(default_factory=list)
    trim: ClassVar = (("errors", "tail"), ("drains", "tail"), ("coverage", "head"))


class MachineStatus(BaseModel):
    machine: str
    kind: str
    role: str
    ok: bool
    causes: list[str]
    fix: str
    heartbeat: str = ""


class CollectionStatus(Bounded):
    converged: bool
    plan: str = Field(description="the plan's headline")
    changes: list[str] = Field(default_factory=list)
    machines: list[MachineStatus] = Field(default_factory=list)
    unable_to_send: int = 0
    warnings: list[str] = Field(default_factory=list)
    trim: ClassVar = (("changes", "head"), ("machines", "head"))


class Column(BaseModel):
    name: str
    type: str
    description: str = ""


class TableSchema(BaseModel):
    name: str
    description: str
    parsed: bool
    columns: list[Column]


class Function(BaseModel):
    name: str
    parameters: str = ""
    description: str = ""


class Catalogue(Bounded):
    tables: list[TableSchema] = Field(default_factory=list)
    functions: list[Function] = Field(default_factory=list)
    functions_note: str = ""
    trim: ClassVar = (("functions", "head"), ("tables", "head"))


class QueryAnswer(Bounded):
    columns: list[str] = Field(default_factory=list)
    rows: list[list[Any]] = Field(default_factory=list)
    trim: ClassVar = (("rows", "head"),)


def size(answer: BaseModel) -> int:
    return len(answer.model_dump_json().encode())


def fit(answer: Bounded, max_bytes: int, more: str) -> Bounded:
    """Cut ``answer``'s lists until its JSON fits ``max_bytes``, the largest list first (so no
    one list is emptied while another is whole), each from the end it doesn't keep. A truncated
    answer (cut here, or already) says in ``more`` how to get the rest."""
    if answer.truncated or size(answer) > max_bytes:
        answer.truncated = True
        answer.more = f"{answer.more}; {more}" if answer.more else more
    while (over := size(answer) - max_bytes) > 0:
        sizes = {name: len(json.dumps(jsonable(getattr(answer, name)), default=str)) for name, _ in answer.trim}  # run_kql rows hold datetimes
        name = max(sizes, key=sizes.get)
        items = getattr(answer, name)
        if not items:
            break  # nothing left to cut: the fixed fields alone are over
        each = max(1, sizes[name] // len(items))
        drop = min(max(1, len(items) // 2), max(1, over // each))
        setattr(answer, name, items[drop:] if dict(answer.trim)[name] == "tail" else items[:-drop])
        answer.truncated = True
    return answer


def jsonable(items: list) -> list:
    return [i.model_dump(mode="json") if isinstance(i, BaseModel) else i for i in items]


def short(text: str) -> str:
    return text if len(text) <= LINE_CHARS else text[:LINE_CHARS] + f"... [{len(text) - LINE_CHARS} more characters]"
