"""Preflight, pure: the facts read about each machine -> one verdict per machine, with its cause
and the fix in one line. The rules are the project's Azure facts ("Azure Monitor Agent (AMA) and
text-log DCRs" in azure-facts.md, which names the docs): the agent is the extension
Microsoft.Azure.Monitor/AzureMonitorLinuxAgent; a VMSS model change reaches Uniform instances on
upgrade (`latestModelApplied`); the agent needs a managed identity, a user-assigned one only when
its settings name it; custom text logs are not collected on Arm64."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, replace

from ..cluster import Agent, Identity
from ..resources import resource_group_of

# Every cause a machine can't send for, in the order they are checked: the first is the one to fix
# first (no fix of the agent helps an Arm64 node).
ARM64, NO_AGENT, AGENT_FAILED, MODEL_NOT_APPLIED, NO_IDENTITY, IDENTITY_NOT_NAMED, NOT_ASSOCIATED = (
    "arm64", "no_agent", "agent_not_provisioned", "model_not_applied", "no_identity", "identity_not_named",
    "not_associated",
)
# A file pattern with a wildcard in a directory: the agent collects nothing from it (azure-facts.md).
PATTERN_NOT_COLLECTED = "pattern_not_collected"
# What the machines' ARM resources show (the daemon's metric: it doesn't query the workspace).
SETUP_CAUSES = (ARM64, NO_AGENT, AGENT_FAILED, MODEL_NOT_APPLIED, NO_IDENTITY, IDENTITY_NOT_NAMED, NOT_ASSOCIATED,
                PATTERN_NOT_COLLECTED)
# From the workspace (doctor/freshness.py): set up right, and yet nothing arrives.
SILENT = "silent"
CAUSES = (*SETUP_CAUSES, SILENT)
# AMA heartbeats once a minute: ten missed is no hiccup.
SILENT_AFTER = _dt.timedelta(minutes=10)
SCHEDULER_VM, UNIFORM_INSTANCE, FLEXIBLE_MEMBER = "vm", "instance", "member"

# Azure size names: Standard_<family><vCPUs><features>[_<accelerator>]_v<n>, where feature `p`
# is an "ARM-based processor" (learn.microsoft.com/azure/virtual-machines/vm-naming-conventions:
# Dpsv5, Epsv6); GB200/GB300 nodes (Standard_ND128isr_NDR_GB200_v6) carry Grace Arm CPUs without it.
_SIZE = re.compile(r"^(?:standard|basic)_[a-z]+\d+(?:-\d+)?(?P<features>[a-z]*)", re.IGNORECASE)
_ARM_ACCELERATORS = re.compile(r"_gb[23]00", re.IGNORECASE)


def is_arm64(vm_size: str) -> bool:
    """Custom text logs are not supported on Arm64 (azure-facts.md: GB200 nodes)."""
    match = _SIZE.match(vm_size or "")
    return bool(_ARM_ACCELERATORS.search(vm_size or "")) or bool(match and "p" in match["features"].lower())


@dataclass(frozen=True)
class MachineFacts:
    """What was read about one machine. `group` is its scale set (None for the scheduler VM)."""

    id: str
    role: str
    kind: str  # SCHEDULER_VM | UNIFORM_INSTANCE | FLEXIBLE_MEMBER
    vm_size: str
    identity: Identity
    agent: Agent | None
    model_applied: bool = True  # Uniform instances: latestModelApplied
    associated: bool = True  # all the associations its role's DCRs want are in place
    group: str | None = None
    uncollectable: tuple[str, ...] = ()  # file patterns of its DCRs the agent won't collect

    @property
    def target(self) -> str:
        """What its associations are on: the machine, or a Uniform instance's scale set."""
        return self.group if self.kind == UNIFORM_INSTANCE else self.id

    @property
    def name(self) -> str:
        if self.kind == UNIFORM_INSTANCE:
            return f"{self.group.rsplit('/', 1)[-1]}_{self.id.rsplit('/', 1)[-1]}"
        return self.id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Seen:
    """What the workspace holds of one machine: its agent's last heartbeat, its stalest table."""

    heartbeat: _dt.datetime | None
    stalest: tuple[str, _dt.datetime | None] | None = None
    unknown: bool = False  # a partial answer left it out: neither silent nor fresh
    silent: bool = False  # no heartbeat for SILENT_AFTER, whatever else is wrong with it


@dataclass(frozen=True)
class Verdict:
    machine: MachineFacts
    causes: tuple[str, ...]  # empty: it can send
    fix: str = ""  # for the first cause, one line
    seen: Seen | None = None  # None: the workspace wasn't asked

    @property
    def ok(self) -> bool:
        return not self.causes

    @property
    def cause(self) -> str:
        return self.causes[0] if self.causes else ""


def identity_problem(identity: Identity, agent: Agent | None) -> str | None:
    """AMA uses the user-assigned identity its settings name, else the system-assigned one."""
    if agent and agent.identifier:
        kind, value = agent.identifier
        field = {"mi_res_id": "id", "client_id": "client_id", "object_id": "principal_id"}.get(kind)
        named = any(field and getattr(u, field).lower() == value.lower() for u in identity.user_assigned)
        return None if named else IDENTITY_NOT_NAMED
    if identity.system_assigned:
        return None
    return IDENTITY_NOT_NAMED if identity.user_assigned else NO_IDENTITY


def causes_of(m: MachineFacts) -> tuple[str, ...]:
    found = []
    if is_arm64(m.vm_size):
        found.append(ARM64)
    if m.agent is None:
        found.append(NO_AGENT)
    elif m.agent.provisioning_state.lower() != "succeeded":
        found.append(AGENT_FAILED)
    if m.kind == UNIFORM_INSTANCE and m.agent is not None and not m.model_applied:
        found.append(MODEL_NOT_APPLIED)
    problem = identity_problem(m.identity, m.agent)
    if problem:
        found.append(problem)
    if not m.associated:
        found.append(NOT_ASSOCIATED)
    if m.uncollectable:
        found.append(PATTERN_NOT_COLLECTED)
    return tuple(found)


def fix_for(m: MachineFacts, cause: str) -> str:
    """The one line a person acts on; `az` commands spelled out with this machine's names."""
    on_vm = m.kind != UNIFORM_INSTANCE  # the scheduler and Flexible members are VMs of their own
    machine = m.id if on_vm else m.group
    rg, name = resource_group_of(machine), machine.rsplit("/", 1)[-1]
    target = f"az vm extension set -g {rg} --vm-name {name}" if on_vm else f"az vmss extension set -g {rg} --vmss-name {name}"
    agent = f"{target} --name AzureMonitorLinuxAgent --publisher Microsoft.Azure.Monitor --enable-auto-upgrade true"
    upgrade = f"; then az vmss update-instances -g {rg} -n {name} --instance-ids '*'" if m.kind == UNIFORM_INSTANCE else ""
    assign = f"az {'vm' if on_vm else 'vmss'} identity assign -g {rg} -n {name}"
    new_members = (f" (and in the model, for new members: az vmss extension set -g {rg} --vmss-name {m.group.rsplit('/', 1)[-1]}"
                   " --name AzureMonitorLinuxAgent --publisher Microsoft.Azure.Monitor)") if m.kind == FLEXIBLE_MEMBER else ""
    user = m.identity.user_assigned[0].id if m.identity.user_assigned else "<identity resource id>"
    settings = ('{"authentication":{"managedIdentity":{"identifier-name":"mi_res_id","identifier-value":"' + user + '"}}}')
    return {
        ARM64: f"size {m.vm_size} is Arm64, where the agent collects no custom text logs: use an x64 size for this "
               "nodearray (nothing else helps)",
        NO_AGENT: f"install the Azure Monitor Agent: {agent}{upgrade}{new_members}",
        AGENT_FAILED: f"the agent extension is {m.agent.provisioning_state if m.agent else ''}: set it again: {agent}{upgrade}",
        MODEL_NOT_APPLIED: f"the instance runs an older model, without the agent: az vmss update-instances -g {rg} -n {name} "
                           f"--instance-ids {m.id.rsplit('/', 1)[-1]}",
        NO_IDENTITY: f"give it a system-assigned identity: {assign}",
        IDENTITY_NOT_NAMED: f"name its user-assigned identity in the agent's settings: {agent} --settings '{settings}'{upgrade}"
                            f" (or: {assign})",
        NOT_ASSOCIATED: "its DCR associations are missing: slurm-log-controller run --once (plan lists them)",
        PATTERN_NOT_COLLECTED: f"{', '.join(m.uncollectable)}: a wildcard in a directory, which the agent doesn't collect: "
                               "wildcard the file name only in components.yaml (the job archive: layout flat, and "
                               "SLURM_JOB_ARCHIVE_LAYOUT=flat on the nodes)",
        SILENT: "set up right, yet no heartbeat for 10 minutes: is the VM running? on it: systemctl status "
                "azuremonitoragent; /var/opt/microsoft/azuremonitoragent/log/mdsd.err",
    }[cause]


def with_freshness(verdicts: list[Verdict], fresh, tables_of: dict[str, tuple[str, ...]]) -> list[Verdict]:
    """The verdicts, with what the workspace holds of each machine (`fresh`: a doctor.freshness
    Freshness); a machine set up right whose agent hasn't been heard from for SILENT_AFTER is silent.
    Machines are matched by the `_ResourceId` their heartbeats carry. `tables_of`: role -> tables."""
    host_of = {rid.lower(): host for host, rid in fresh.resource_ids.items()}
    judged = []
    for v in verdicts:
        host = host_of.get(v.machine.id.lower(), "")  # "": never heard from in the lookback
        silent = fresh.silent(host, SILENT_AFTER)  # None: a partial answer may have left it out
        stalest = fresh.stalest(host, tables_of.get(v.machine.role, ())) if host else None
        seen = Seen(fresh.last_heartbeat(host), stalest, unknown=silent is None, silent=bool(silent))
        if v.ok and silent:
            v = replace(v, causes=(SILENT,), fix=fix_for(v.machine, SILENT))
        judged.append(replace(v, seen=seen))
    return judged


def preflight(machines: list[MachineFacts]) -> list[Verdict]:
    verdicts = []
    for m in machines:
        causes = causes_of(m)
        verdicts.append(Verdict(m, causes, fix_for(m, causes[0]) if causes else ""))
    return verdicts
