"""Why a job ended, from its lines: deterministic rules, each citing the lines that decided it.

The wording is Slurm's own (22.05): slurmctld's ``_job_complete: JobId=N WEXITSTATUS n`` and
``Time limit exhausted for JobId=N`` (job_mgr.c), ``_slurm_rpc_kill_job: REQUEST_KILL_JOB
JobId=N uid U`` (proc_req.c); slurmstepd's ``*** JOB N ON host CANCELLED AT time [DUE TO TIME
LIMIT] ***``, jobacct_gather's ``StepId=N.batch exceeded memory limit (used > limit), being
killed`` and "Exceeded job memory limit", the cgroup plugin's ``Detected n oom-kill event(s)``;
the kernel's ``Memory cgroup out of memory`` / ``oom-kill:...task_memcg=/.../job_N/...``; the
shells' ``command not found`` (bash) and ``N: name: not found`` (dash), environment modules'
``Unable to locate a modulefile`` and Lmod's ``module(s) are unknown``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from .answers import Classification, Evidence
from .rows import Row

CTLD, STEPD, OUTPUT, KERNEL = "slurmctld", "slurmd", "output", "kernel"


def _where(row: Row) -> str:
    """Which of the job's sources a row is: the controller, a node's slurmd (and its steps), the
    job's own output, the kernel."""
    if row.kind in ("stdout", "stderr"):
        return OUTPUT
    if row.process == "kernel" or row.table.startswith("dmesg"):
        return KERNEL
    if row.table.startswith("slurmctld"):
        return CTLD
    if row.table.startswith("slurmd") or row.process in ("slurmd", "slurmstepd"):
        return STEPD
    return ""


@dataclass(frozen=True)
class Rule:
    name: str
    sources: frozenset[str]
    pattern: re.Pattern

    def hits(self, rows: Iterable[Row]) -> list[Row]:
        return [r for r in rows if _where(r) in self.sources and self.pattern.search(r.message)]


def _rule(name: str, sources: str, pattern: str) -> Rule:
    return Rule(name, frozenset(sources.split()), re.compile(pattern, re.I))


OOM = (
    _rule("slurm: exceeded memory limit", "slurmd output", r"exceeded (job |step )?memory limit"),
    _rule("cgroup: oom-kill event", "slurmd output", r"Detected \d+ oom[-_]kill event"),
    _rule("kernel: oom-kill in the job's cgroup", "kernel", r"oom[-_]kill|out of memory"),
)
TIME_LIMIT = (
    _rule("slurmctld: time limit", "slurmctld", r"Time limit exhausted for JobId="),
    _rule("slurmstepd: cancelled due to time limit", "slurmd output", r"\*\*\* (JOB|STEP) \S+ ON \S+ CANCELLED AT \S+ DUE TO TIME LIMIT"),
)
NODE_FAILURE = (
    _rule("slurmctld: node failure", "slurmctld", r"on failed node|NODE_FAIL|due to (the )?failure of node|node .* not responding"),
    _rule("slurmstepd: cancelled due to node failure", "slurmd output", r"CANCELLED AT \S+ DUE TO NODE FAIL"),
)
PROLOG_EPILOG = (
    _rule("prolog/epilog failure", "slurmctld slurmd",
          r"(prolog|epilog)( \S+)? failed|(prolog|epilog) error|Prolog or job env setup failure|epilog_complete.*error"),
)
CANCELLED = (
    _rule("slurmctld: cancel request", "slurmctld", r"REQUEST_KILL_JOB JobId=\S+ uid \d+"),
    _rule("slurmstepd: cancelled", "slurmd output", r"\*\*\* (JOB|STEP) \S+ ON \S+ CANCELLED AT "),
)
NOT_FOUND = (
    _rule("shell: command not found", "output", r"command not found|^\S+: \d+: \S.*: not found$|execve\(\).*No such file or directory"),
    _rule("modules: module not found", "output",
          r"Unable to locate a modulefile|module\(s\) are unknown|ModuleNotFoundError|No module named"),
)
_EXIT = re.compile(r"_job_complete: JobId=\S+ WEXITSTATUS (\d+)")
_SIGNAL = re.compile(r"_job_complete: JobId=\S+ WTERMSIG (\d+)")
_KILL_UID = re.compile(r"REQUEST_KILL_JOB JobId=\S+ uid (\d+)")
RELEVANT = 5  # lines cited when no rule fits
CITED = 3  # lines cited per rule: the same words from slurmd and from the job's own output


@dataclass(frozen=True)
class Verdict:
    classification: Classification
    state: str
    exit_code: int | None
    reason: str


def exit_of(rows: Iterable[Row]) -> tuple[int | None, int | None, Row | None]:
    """(exit status, terminating signal, the line saying so) from slurmctld's completion line."""
    for row in rows:
        if _where(row) != CTLD:
            continue
        if m := _EXIT.search(row.message):
            return int(m[1]), None, row
        if m := _SIGNAL.search(row.message):
            return None, int(m[1]), row
    return None, None, None


def classify(rows: list[Row], owner: Callable[[int], str] = lambda uid: f"uid {uid}") -> Verdict:
    """The first rule that fits, in the order a person would check; ``owner(uid)`` names a uid."""
    code, signal, ending = exit_of(rows)
    def fired(rules) -> list[tuple[Rule, Row]]:
        """Each rule's lines, a line said twice in one table once, at most CITED per rule."""
        found = []
        for rule in rules:
            distinct = {(row.table, row.message): row for row in reversed(rule.hits(rows))}
            found += [(rule, row) for row in list(reversed(distinct.values()))[:CITED]]
        return found

    def verdict(category, state, summary, found, reason=None) -> Verdict:
        evidence = [Evidence(rule=rule.name, line=row.line()) for rule, row in found] + ([Evidence(rule="slurmctld: job completion", line=ending.line())] if ending else [])
        return Verdict(Classification(category=category, summary=summary, evidence=evidence), state, code,
                       reason if reason is not None else summary)

    oom = fired(OOM)
    kernel_only = all(_where(row) == KERNEL for _, row in oom)
    if oom and (not kernel_only or any(row.job_id is not None for _, row in oom)):
        return verdict("out_of_memory", "OUT_OF_MEMORY", "the job used more memory than it asked for and was killed", oom)
    if found := fired(TIME_LIMIT):
        return verdict("time_limit", "TIMEOUT", "the job reached its time limit and was killed", found)
    if found := fired(NODE_FAILURE):
        return verdict("node_failure", "NODE_FAIL", "a node of the job failed", found)
    if found := fired(PROLOG_EPILOG):
        return verdict("prolog_epilog_failure", "FAILED", "the prolog or epilog failed on a node of the job", found)
    if found := fired(CANCELLED):
        uid = next((int(m[1]) for _, row in found if (m := _KILL_UID.search(row.message))), None)
        by = f" by {owner(uid)}" if uid is not None else ""
        return verdict("cancelled", "CANCELLED", f"the job was cancelled{by}", found)
    if code == 0:
        return verdict("completed", "COMPLETED", "the job completed (exit 0)", [])
    if (found := fired(NOT_FOUND)) and code is not None:
        return verdict("command_not_found", "FAILED", f"a command or module was not found (exit {code})", found)
    if code is not None:
        return verdict("non_zero_exit", "FAILED", f"the job exited with status {code}", [])
    if signal is not None:
        return verdict("non_zero_exit", "FAILED", f"the job was killed by signal {signal}", [])
    relevant = [r for r in rows if r.level in ("fatal", "error")] or [r for r in rows if r.kind == "stderr"] or rows
    evidence = [Evidence(rule="most relevant line", line=r.line()) for r in relevant[-RELEVANT:]]
    return Verdict(Classification(category="unknown", summary="no rule fits: read the cited lines", evidence=evidence),
                   "", None, "unknown")
