"""The fault matrix: each scenario is a fault Azure (ARM, or the Logs query API) can throw at the
controller, what the controller must show while it lasts, and in how many passes it must be back
in sync once it stops. `run_scenario` drives the real CLI against the simulator and measures it.

A new capability adds rows here (remediation writes, MCP tools): a scenario names the command it
runs, its fault, what must be seen, and the passes it may take to converge.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from controller.simulator.logs import QUERY_OPERATION

from .world import Run, cli, duplicates, environ, foreign_writes, metric_samples

ARM, LOGS = "arm", "logs"
PASS = ("run", "--once")
DOCTOR = ("doctor",)
# The pass's own metric of a request answered 5xx / 429, a failed change, a failed pass.
ARM_5XX = 'slurm_log_controller_arm_requests_total{operation="%s",status_class="5xx"}'
THROTTLED = "slurm_log_controller_arm_throttled_total"
FAILED_PASS = 'slurm_log_controller_reconcile_passes_total{result="failure"}'
FAILED_CHANGE = 'slurm_log_controller_changes_total{action="create",kind="%s",result="failed"}'
SKIPPED_CHANGE = 'slurm_log_controller_changes_total{action="create",kind="%s",result="skipped"}'
ALL_APPLIED = "Applied 56, skipped 0, failed 0."  # the cold start, whole, in the faulty pass
# The daemon's (and `run --once --metrics-file`'s) look at the workspace, by result.
WORKSPACE_CHECK = 'slurm_log_controller_workspace_checks_total{result="%s"}'
MAX_PASSES = 5  # a scenario not in sync after this many passes after its fault has not converged


@dataclass(frozen=True)
class Scenario:
    name: str
    api: str  # ARM or LOGS
    fault: Callable  # fault(sim): install it
    shown: tuple[str, ...]  # words the command's output has while the fault lasts
    converges_within: int  # passes after the fault stops until in sync (0: the faulty pass itself)
    exits: tuple[int, ...] = (0,)  # the faulty pass's exit codes
    metric: str | None = None  # a sample the pass's metrics file has above 0 (Logs: a pass with the fault too)
    env: dict[str, str] = field(default_factory=dict)  # settings while the fault lasts
    min_seconds: float = 0.0  # the faulty pass can't be faster (Retry-After honoured)
    command: tuple[str, ...] = PASS
    one_line: bool = False  # stderr is that one line (an error that ends the command)


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    during: Run
    seconds: float
    passes_after: int | None  # None: not in sync within MAX_PASSES
    metrics: dict[str, float]
    duplicates: list
    foreign_writes: list

    @property
    def problems(self) -> list[str]:
        s, found = self.scenario, []
        if self.during.code not in s.exits:
            found.append(f"exit {self.during.code}, expected one of {s.exits}")
        if "Traceback" in self.during.text:
            found.append("a traceback")
        if s.one_line and self.during.err.count("\n") != 1:
            found.append(f"{self.during.err.count(chr(10))} lines on stderr, not one")
        found += [f"{word!r} not shown" for word in s.shown if word not in self.during.text]
        if s.metric and not self.metrics.get(s.metric):
            found.append(f"metric {s.metric} not above 0")
        if self.seconds < s.min_seconds:
            found.append(f"took {self.seconds:.1f} s, less than the {s.min_seconds} s Retry-After asked")
        if self.passes_after is None or self.passes_after > s.converges_within:
            found.append(f"converged after {self.passes_after} passes, promised {s.converges_within}")
        if self.duplicates:
            found.append(f"duplicates: {self.duplicates}")
        if self.foreign_writes:
            found.append(f"wrote to what isn't ours: {self.foreign_writes}")
        return found


def _delete_a_flexible_vm_before_its_first_association(sim):
    doomed = sim.vmss_members(sim.cluster.vmss_ids["htc"])[0]

    def scale_in(request):  # CycleCloud scales in between our list and our write
        if request.path.lower().startswith(doomed.lower() + "/"):
            sim.delete_vm(doomed)

    sim.hook("DataCollectionRuleAssociations_Create", scale_in)


def _storm_of_arm_throttling(sim):
    sim.emulate_arm_throttling(write_burst=10, write_rate=20)  # our client's own bucket allows 200 at once


ARM_SCENARIOS = [
    Scenario("429 storm: ARM's write bucket empty", ARM, _storm_of_arm_throttling, (ALL_APPLIED,), 0,
             metric=THROTTLED, min_seconds=1.0),
    Scenario("429 on a serial read, Retry-After 2 s twice", ARM,
             lambda sim: sim.inject("Workspaces_Get", 429, times=2, retry_after=2), (ALL_APPLIED,), 0,
             metric=THROTTLED, min_seconds=4.0),
    Scenario("429 from Compute's own throttling of VM lists", ARM, lambda sim: sim.throttle_compute(times=1, retry_after=1),
             (ALL_APPLIED,), 0, metric=THROTTLED, min_seconds=1.0),
    Scenario("500 burst on table writes", ARM, lambda sim: sim.inject("Tables_CreateOrUpdate", 500, times=3),
             (ALL_APPLIED,), 0, metric=ARM_5XX % "workspaces.tables.put"),
    Scenario("503 burst of 3 on every request (azure-core retries 3)", ARM,
             lambda sim: sim.inject("*", 503, times=3, retry_after=0), (ALL_APPLIED,), 0),
    Scenario("503 burst of 4 on the first read: past azure-core's retries", ARM,
             lambda sim: sim.inject("Workspaces_Get", 503, times=4, retry_after=0), ("error: Azure: 503 ServiceUnavailable",),
             1, exits=(1,), metric=FAILED_PASS, one_line=True),
    Scenario("503 on every DCR write until it stops", ARM,
             lambda sim: sim.inject("DataCollectionRules_Create", 503, times=-1, retry_after=0),
             ("failed: + dcr", "503 ServiceUnavailable"), 1, exits=(1,),
             metric=FAILED_CHANGE % "dcr"),
    Scenario("connection reset on a read", ARM, lambda sim: sim.reset_connections("VirtualMachines_List", times=1),
             (ALL_APPLIED,), 0),
    Scenario("connection reset on every DCR write", ARM,
             lambda sim: sim.reset_connections("DataCollectionRules_Create", times=-1),
             ("failed: + dcr", "broke off its answer"), 1, exits=(1,), metric=FAILED_CHANGE % "dcr"),
    Scenario("write slower than the read timeout: lands late, retried", ARM,
             lambda sim: sim.hang("DataCollectionRules_Create", seconds=2, times=2), (ALL_APPLIED,), 0,
             env={"HTTP_READ_TIMEOUT": "1"}),
    Scenario("hung read", ARM, lambda sim: sim.hang("Tables_ListByWorkspace", seconds=120, times=-1),
             ("did not answer in time", "HTTP_READ_TIMEOUT"), 1, exits=(1,), metric=FAILED_PASS,
             env={"HTTP_READ_TIMEOUT": "1"}, one_line=True),
    Scenario("table creation ends Failed", ARM, lambda sim: sim.fail_table_creation("dmesg_raw_CL"),
             ("ended Failed: SchemaUpdateFatalError", "skipped: + dcr dmesg_raw_dcr"), 1, exits=(1,),
             metric=FAILED_CHANGE % "table"),
    Scenario("409 on an association", ARM,
             lambda sim: sim.inject("DataCollectionRuleAssociations_Create", 409, times=2, code="Conflict",
                                    message="Another operation is in progress on the resource"),
             ("conflict (409 Conflict", "retried next pass"), 1, metric=SKIPPED_CHANGE % "association"),
    Scenario("404 race: a VM deleted between list and write", ARM, _delete_a_flexible_vm_before_its_first_association,
             ("its machine is gone",), 0, metric=SKIPPED_CHANGE % "association"),
    Scenario("403 on DCR writes", ARM,
             lambda sim: sim.inject("DataCollectionRules_Create", 403, times=-1, code="AuthorizationFailed", message="no"),
             ("403 AuthorizationFailed", "grant the controller's identity Monitoring Contributor on resource group slurm-rg"),
             1, exits=(1,), metric=FAILED_CHANGE % "dcr"),
    Scenario("403 on a read", ARM,
             lambda sim: sim.inject("VirtualMachines_List", 403, times=-1, code="AuthorizationFailed", message="no"),
             ("grant the controller's identity Reader on resource group slurm-rg",), 1, exits=(2,), metric=FAILED_PASS, one_line=True),
    Scenario("token refused by the identity endpoint", ARM, lambda sim: None,
             ("no Azure credential: tried", "managed identity", "az login"), 1, exits=(2,), metric=FAILED_PASS,
             env={"IDENTITY_HEADER": "not-the-secret"}, one_line=True),
]


def _cluster_sending(sim):
    """What doctor judges: the controller's resources in place and 5 minutes of every agent."""
    assert cli(*PASS).code == 0
    sim.tick(5)


LOGS_SCENARIOS = [
    Scenario("Logs: 429, Retry-After 1 s, once", LOGS, lambda sim: sim.inject(QUERY_OPERATION, 429, times=1, retry_after=1),
             (), 0, command=DOCTOR, metric=WORKSPACE_CHECK % "success", min_seconds=1.0),
    Scenario("Logs: 429 storm", LOGS, lambda sim: sim.inject(QUERY_OPERATION, 429, times=-1, retry_after=1),
             ("warning: the workspace was not asked", "429", "run again in a minute"), 1, command=DOCTOR, metric=WORKSPACE_CHECK % "failure", min_seconds=2.0),
    Scenario("Logs: 500 once", LOGS, lambda sim: sim.inject(QUERY_OPERATION, 500, times=1), (), 0, command=DOCTOR, metric=WORKSPACE_CHECK % "success"),
    Scenario("Logs: 503 until it stops", LOGS, lambda sim: sim.inject(QUERY_OPERATION, 503, times=-1, retry_after=0),
             ("warning: the workspace was not asked", "503 ServiceUnavailable"), 1, command=DOCTOR, metric=WORKSPACE_CHECK % "failure"),
    Scenario("Logs: connection reset once", LOGS, lambda sim: sim.reset_connections(QUERY_OPERATION, times=1),
             (), 0, command=DOCTOR, metric=WORKSPACE_CHECK % "success"),
    Scenario("Logs: connection reset on every query", LOGS, lambda sim: sim.reset_connections(QUERY_OPERATION, times=-1),
             ("warning: the workspace was not asked", "broke off its answer"), 1, command=DOCTOR, metric=WORKSPACE_CHECK % "failure"),
    Scenario("Logs: query slower than the read timeout", LOGS, lambda sim: sim.hang(QUERY_OPERATION, seconds=2, times=1),
             (), 0, command=DOCTOR, metric=WORKSPACE_CHECK % "success", env={"HTTP_READ_TIMEOUT": "1"}),
    Scenario("Logs: hung query", LOGS, lambda sim: sim.hang(QUERY_OPERATION, seconds=120, times=-1),
             ("warning: the workspace was not asked", "did not answer in time"), 1, command=DOCTOR, metric=WORKSPACE_CHECK % "failure",
             env={"HTTP_READ_TIMEOUT": "1"}),
    Scenario("Logs: 403", LOGS,
             lambda sim: sim.inject(QUERY_OPERATION, 403, times=-1, code="InsufficientAccessError", message="no"),
             ("warning: the workspace was not asked", "Log Analytics Reader on workspace logs"), 1, command=DOCTOR, metric=WORKSPACE_CHECK % "failure"),
    Scenario("Logs: 404 (workspace not found)", LOGS,
             lambda sim: sim.inject(QUERY_OPERATION, 404, times=-1, code="WorkspaceNotFoundError", message="no"),
             ("warning: the workspace was not asked", "LOGS_ENDPOINT"), 1, command=DOCTOR, metric=WORKSPACE_CHECK % "failure"),
]

SCENARIOS = ARM_SCENARIOS + LOGS_SCENARIOS


def _in_sync(scenario: Scenario, run: Run) -> bool:
    """ARM: nothing left to change (plan, which writes nothing). Logs: doctor heard every machine
    and left nothing unasked."""
    if scenario.api == LOGS:
        return run.code == 0 and "warning:" not in run.err
    return cli("plan").code == 0


def _one_more_pass(scenario: Scenario, metrics_file: str) -> Run:
    return cli(*DOCTOR) if scenario.api == LOGS else cli(*PASS, "--metrics-file", metrics_file)


def run_scenario(sim, scenario: Scenario, metrics_file: str) -> Outcome:
    """The scenario's command once with the fault in place, then passes without it until in sync."""
    if scenario.api == LOGS:
        _cluster_sending(sim)
    sim.writes_seen.clear()
    scenario.fault(sim)
    started = time.monotonic()
    with environ(**scenario.env):
        during = cli(*scenario.command, *(("--metrics-file", metrics_file) if scenario.command == PASS else ()))
    seconds = time.monotonic() - started
    if scenario.command != PASS:  # and what the daemon's pass makes of the same fault
        sim.clear_faults()
        scenario.fault(sim)
        with environ(**scenario.env):
            cli(*PASS, "--metrics-file", metrics_file)
    metrics = metric_samples(metrics_file)
    sim.clear_faults()
    sim.clear_hooks()
    sim.stop_throttling()
    last, passes_after = during, 0
    while not _in_sync(scenario, last):
        if passes_after == MAX_PASSES:
            passes_after = None
            break
        last, passes_after = _one_more_pass(scenario, metrics_file), passes_after + 1
    return Outcome(scenario, during, seconds, passes_after, metrics, duplicates(sim), foreign_writes(sim))

