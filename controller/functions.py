"""The workspace functions we keep in the workspace: KQL over the parsed tables, as code (pure).

Each is a saved search with a `functionAlias`, so `SlurmJob(123)` works in any query of the
workspace. The parsed tables are `<pattern>_CL` with the columns of the parsed-table contract
(TimeGenerated, Computer, FilePath, Level, Process, JobId, StepId, Message). The queries are
written from the enabled components, so they name only tables that are there, and `union
isfuzzy=true` still answers while a table is being created.

Shaped for both Kusto and the simulator's duckdb-kql: the bodies are `let` statements and one
tabular expression (duckdb-kql has no parenthesised tabular source and no `strcat_array`, so the
node list is `take_any` of slurmctld's NodeList), `toscalar` gives the job's window, and the job's
slurmctld lines, read four times, are `materialize`d once. Slurm's wording (job_mgr.c `_job_complete`, node_mgr.c
`kill_running_job_by_node_name`, `_slurm_rpc_kill_job`) is what the failures are found by.
"""

from __future__ import annotations

from dataclasses import dataclass

from .components import Component
from .resources import TOOL, SavedSearch, ownership_tags
from .transforms import ARRAY_COLUMNS

CATEGORY = "Slurm"
COLUMNS = "TimeGenerated, SourceTable, Computer, Process, Level, JobId, StepId, Message, FilePath"
# Node lines a minute either side of the job: the kernel's OOM kill comes before slurmd reports it.
SLACK = "1m"


@dataclass(frozen=True)
class FunctionSpec:
    alias: str
    parameters: str
    display_name: str
    needs: str  # the component whose parsed table the function can't do without


def _union(tables: list[str]) -> str:
    return f"union withsource=SourceTable isfuzzy=true {', '.join(tables)}"


def job_query(tables: list[str], array_ids: bool = True) -> str:
    """Every line of the job (its JobId in any parsed table; for an array task, whose archive files
    carry no JobId, the ArrayJobId and ArrayTaskId slurmctld gives it), and the lines without a job
    of the nodes slurmctld allocated to it while it ran. Nodes: slurmctld's NodeList when it names them
    one by one (`ccw-hpc-1,ccw-hpc-2`), and any machine whose slurmd, slurmstepd or kernel lines
    carry the job's id; a bracketed hostlist (`ccw-hpc-[1-4]`) is not expanded. `array_ids`: whether
    slurmctld's table has ArrayJobId and ArrayTaskId (only its `slurm` format has them)."""
    array_lets = """let _arrayJob = toscalar(_ctld | where isnotnull(ArrayJobId) | summarize take_any(ArrayJobId));
let _arrayTask = toscalar(_ctld | where isnotnull(ArrayTaskId) | summarize take_any(ArrayTaskId));
""" if array_ids else ""
    array_match = " or (isnull(JobId) and ArrayJobId == _arrayJob and ArrayTaskId == _arrayTask)" if array_ids else ""
    return f"""let _ctld = materialize(slurmctld_CL | where JobId == jobId);
let _nodelist = split(tolower(toscalar(_ctld | extend L = extract(@"NodeList=([^ ]+)", 1, Message) | where isnotempty(L) and L != "(null)" | summarize take_any(L))), ",");
let _allocated = toscalar(_ctld | where Message contains "NodeList=" and Message !contains "NodeList=(null)" | summarize min(TimeGenerated));
let _start = coalesce(_allocated, toscalar(_ctld | summarize min(TimeGenerated)));
let _end = toscalar(_ctld | summarize max(TimeGenerated));
{array_lets}let _nodes = {_union(tables)} | where JobId == jobId and Process in ("slurmd", "slurmstepd", "kernel") | distinct Computer;
{_union(tables)}
| where JobId == jobId{array_match} or (isnull(JobId) and TimeGenerated between ((_start - {SLACK}) .. (_end + {SLACK})) and (Computer in (_nodes) or array_index_of(_nodelist, tolower(Computer)) >= 0))
| project {COLUMNS}
| sort by TimeGenerated asc"""


def node_query(tables: list[str]) -> str:
    """Every line of one machine (its host name, any case) from since to until."""
    return f"""{_union(tables)}
| where Computer =~ node and TimeGenerated between (since .. until)
| project {COLUMNS}
| sort by TimeGenerated asc"""


def failed_jobs_query() -> str:
    """One row per job slurmctld saw fail since `since`, with Slurm's state name: a non-zero exit
    (`_job_complete: JobId=N WEXITSTATUS 1`) or a signal (`WTERMSIG 9`) is FAILED, `OOM failure`
    OUT_OF_MEMORY, `Time limit exhausted for JobId=N` TIMEOUT, `REQUEST_KILL_JOB` (scancel)
    CANCELLED, `Killing JobId=N on failed node` / `requeue ... due to failure of node` NODE_FAIL.
    Where several apply (a job killed at its time limit also ends by a signal) the most telling
    wins; ExitCode is the WEXITSTATUS, Nodes slurmctld's NodeList."""
    return """slurmctld_CL
| where TimeGenerated >= since and isnotnull(JobId)
| extend ExitCode = toint(extract(@"WEXITSTATUS ([0-9]+)", 1, Message))
| extend Rank = case(Message contains "on failed node" or Message contains "due to failure of node", 5, Message contains "OOM failure", 4, Message startswith "Time limit exhausted", 3, Message contains "REQUEST_KILL_JOB", 2, ExitCode > 0 or Message contains "WTERMSIG", 1, 0)
| where Rank > 0
| extend State = case(Rank == 5, "NODE_FAIL", Rank == 4, "OUT_OF_MEMORY", Rank == 3, "TIMEOUT", Rank == 2, "CANCELLED", "FAILED")
| summarize arg_max(Rank, State), Ended = max(TimeGenerated), ExitCode = max(ExitCode) by JobId
| join kind=leftouter (slurmctld_CL | extend Nodes = extract(@"NodeList=([^ ]+)", 1, Message) | where isnotempty(Nodes) and Nodes != "(null)" | summarize Nodes = take_any(Nodes) by JobId) on JobId
| project JobId, State, ExitCode, Ended, Nodes
| sort by Ended desc"""


SLURM_JOB = FunctionSpec("SlurmJob", "jobId:long", "Slurm: one job's whole story", "slurmctld")
SLURM_NODE = FunctionSpec("SlurmNode", "node:string, since:datetime, until:datetime", "Slurm: one node's lines in a window", "")
SLURM_FAILED_JOBS = FunctionSpec("SlurmFailedJobs", "since:datetime", "Slurm: jobs that failed since a time", "slurmctld")
FUNCTIONS = (SLURM_JOB, SLURM_NODE, SLURM_FAILED_JOBS)


def saved_search_name(alias: str) -> str:
    return f"{TOOL}-{alias}".lower()


def desired_functions(components: tuple[Component, ...], workspace_id: str, cluster: str | None) -> tuple[SavedSearch, ...]:
    """The functions the enabled components allow: those over slurmctld need its table."""
    patterns = {c.pattern for c in components}
    tables = [c.parsed_table for c in components]
    array_ids = any(c.pattern == SLURM_JOB.needs and set(ARRAY_COLUMNS) <= set(c.log_format.columns) for c in components)
    queries = {SLURM_JOB: job_query(tables, array_ids), SLURM_NODE: node_query(tables), SLURM_FAILED_JOBS: failed_jobs_query()}
    return tuple(
        SavedSearch(
            workspace_id=workspace_id,
            name=saved_search_name(spec.alias),
            function_alias=spec.alias,
            function_parameters=spec.parameters,
            query=queries[spec],
            display_name=spec.display_name,
            category=CATEGORY,
            tags=ownership_tags(cluster),
        )
        for spec in FUNCTIONS
        if tables and (not spec.needs or spec.needs in patterns)
    )
