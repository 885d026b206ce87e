"""Remediation, pure: the doctor's facts about the cluster's machines -> the changes that let them
send (install the Azure Monitor Agent, upgrade Uniform instances to their model), each kind behind
its own setting, and `!` notes for what is not ours to fix or can't be fixed this way.

The rules are azure-facts.md's ("Azure Monitor Agent (AMA) and text-log DCRs"): the agent is the
extension Microsoft.Azure.Monitor/AzureMonitorLinuxAgent; it uses the user-assigned identity its
settings name, else the system-assigned one; a scale set model change reaches existing Uniform
instances only on upgrade, and existing Flexible members not at all (each is a VM of its own);
custom text logs don't run on Arm64. No role on our DCRs is granted: Azure documents none for the
agent (README, "Remediation").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .azure.compute import AGENT_PUBLISHER, AGENT_TYPE
from .cluster import Agent, Identity, Inventory
from .doctor.preflight import FLEXIBLE_MEMBER, IDENTITY_NOT_NAMED, SCHEDULER_VM, UNIFORM_INSTANCE, MachineFacts, identity_problem, is_arm64
from .plan import CREATE, UPDATE, Change, FieldChange
from .resources import ASSOCIATION_PREFIX, ScaleSet, key, ownership_tags

# Scale set extensions carry no tags (VirtualMachineScaleSetExtension has none): ours are known
# by their name, as associations are. VM extensions carry our tags as well.
EXTENSION_NAME = f"{ASSOCIATION_PREFIX}ama"
# The agent's major version; minor versions come by themselves (autoUpgradeMinorVersion).
AGENT_VERSION = "1.0"
SETTINGS_PATH = "settings.authentication.managedIdentity"


def _short(arm_id: str) -> str:
    return arm_id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class AgentExtension:
    """The agent on a VM or in a scale set's model, naming a user-assigned identity or none."""

    target_id: str
    location: str
    on_scale_set: bool
    identifier: tuple[str, str] | None = None  # (identifier-name, identifier-value); None: system-assigned
    owner: str | None = None
    extension_name: str = EXTENSION_NAME

    kind = "agent"

    @property
    def id(self) -> str:
        return f"{self.target_id}/extensions/{self.extension_name}"

    @property
    def name(self) -> str:
        return _short(self.target_id)

    @property
    def label(self) -> str:
        return f"{self.name} (scale set model)" if self.on_scale_set else self.name

    def settings(self) -> dict[str, Any]:
        if self.identifier is None:
            return {}
        name, value = self.identifier
        return {"authentication": {"managedIdentity": {"identifier-name": name, "identifier-value": value}}}

    def spec(self) -> dict[str, Any]:
        return {"publisher": AGENT_PUBLISHER, "type": AGENT_TYPE, SETTINGS_PATH: self.identity_text()}

    def identity_text(self) -> str:
        return f"{self.identifier[0]} {self.identifier[1]}" if self.identifier else "system-assigned"

    def body(self) -> dict[str, Any]:
        properties = {
            "publisher": AGENT_PUBLISHER, "type": AGENT_TYPE, "typeHandlerVersion": AGENT_VERSION,
            "autoUpgradeMinorVersion": True, "enableAutomaticUpgrade": True, "settings": self.settings(),
        }
        if self.on_scale_set:
            return {"name": self.extension_name, "properties": properties}
        return {"location": self.location, "tags": ownership_tags(self.owner), "properties": properties}


@dataclass(frozen=True)
class InstanceUpgrade:
    """Uniform instances brought to their scale set's model (`az vmss update-instances`)."""

    vmss_id: str
    instance_ids: tuple[str, ...]
    after: str | None = None  # the id of the model's agent change this pass makes first

    kind = "upgrade"

    @property
    def id(self) -> str:
        return self.vmss_id

    @property
    def name(self) -> str:
        return _short(self.vmss_id)

    @property
    def label(self) -> str:
        count = len(self.instance_ids)
        return f"{self.name} ({count} instance{'s' if count != 1 else ''})"

    def spec(self) -> dict[str, Any]:
        return {"instanceIds": list(self.instance_ids)}


@dataclass(frozen=True)
class RemediationPolicy:
    cluster_name: str
    install_agent: bool = False
    upgrade_instances: bool = False
    adopt: frozenset[str | None] = frozenset()  # as PlanPolicy.adopt


@dataclass(frozen=True)
class Remediation:
    changes: tuple[Change, ...] = ()
    notes: tuple[str, ...] = ()


def chosen_identity(identity: Identity) -> tuple[tuple[str, str] | None, str]:
    """What the agent's settings should name, or why nothing can be chosen ('' when fine): the
    system-assigned identity needs no name; exactly one user-assigned is named by its resource id;
    several are not guessed."""
    if identity.system_assigned:
        return None, ""
    if len(identity.user_assigned) == 1:
        return ("mi_res_id", identity.user_assigned[0].id), ""
    if identity.user_assigned:
        return None, f"has {len(identity.user_assigned)} user-assigned identities and no system-assigned one (not guessed)"
    return None, "has no managed identity"


def _ours(agent: Agent, policy: RemediationPolicy) -> bool:
    """Ours by name (scale set extensions have no tags); ADOPT=unowned lets us rewrite another's."""
    return agent.name.lower().startswith(ASSOCIATION_PREFIX) or None in policy.adopt


class _Planner:
    def __init__(self, policy: RemediationPolicy):
        self.policy = policy
        self.installs: list[Change] = []
        self.upgrades: list[Change] = []
        self.notes: list[str] = []
        self.arm64: list[str] = []

    def agent(self, target_id: str, location: str, on_scale_set: bool, vm_size: str, identity: Identity,
              agent: Agent | None) -> Change | None:
        """The agent change one machine or model needs, if any, kept among the installs (notes for the rest)."""
        change = self._agent_change(target_id, location, on_scale_set, vm_size, identity, agent)
        if change:
            self.installs.append(change)
        return change

    def _agent_change(self, target_id: str, location: str, on_scale_set: bool, vm_size: str, identity: Identity,
                      agent: Agent | None) -> Change | None:
        needs_agent = agent is None
        unnamed = agent is not None and identity_problem(identity, agent) == IDENTITY_NOT_NAMED
        if not (needs_agent or unnamed):
            return None
        what = f"{'scale set' if on_scale_set else 'VM'} {_short(target_id)}"
        if is_arm64(vm_size):
            self.arm64.append(_short(target_id))
            return None
        identifier, problem = chosen_identity(identity)
        if problem:
            self.notes.append(f"agent: {what} {problem}: assign one identity, or name one in the agent's settings by hand")
            return None
        desired = AgentExtension(target_id, location, on_scale_set, identifier, self.policy.cluster_name)
        if needs_agent:
            return Change(CREATE, desired)
        if not _ours(agent, self.policy):
            self.notes.append(f"agent: {what} has agent extension {agent.name or '(unnamed)'}, not ours, whose settings don't "
                              "name its user-assigned identity: left as is; set ADOPT=unowned to let us rewrite it")
            return None
        old = f"{agent.identifier[0]} {agent.identifier[1]}" if agent.identifier else "system-assigned"
        desired = AgentExtension(target_id, location, on_scale_set, identifier, self.policy.cluster_name, agent.name)
        return Change(UPDATE, desired, (FieldChange(SETTINGS_PATH, old, desired.identity_text()),))


def plan_remediation(facts: list[MachineFacts], inventory: Inventory, scale_sets: list[ScaleSet],
                     policy: RemediationPolicy) -> Remediation:
    """`facts`: the doctor's, for the machines whose role has logs to send; `scale_sets`: theirs
    (a Uniform one with no instances has no facts, but its model still counts)."""
    planner = _Planner(policy)
    vms = {key(m.id): m for m in inventory.machines}
    models = {key(s.id): s for s in inventory.scale_sets}
    for m in facts:
        if m.kind == SCHEDULER_VM or (m.kind == FLEXIBLE_MEMBER and m.agent is None):
            planner.agent(m.id, vms[key(m.id)].location, False, m.vm_size, m.identity, m.agent)
    for s in scale_sets:
        model = models[key(s.id)]
        change = planner.agent(s.id, "", True, model.vm_size, model.identity, model.agent)
        if s.flexible or is_arm64(model.vm_size):
            continue
        instances = [m for m in facts if m.kind == UNIFORM_INSTANCE and key(m.group) == key(s.id)]
        # Once the model changes, every instance lags it; before, only those that do now.
        lagging = [m for m in instances if change or (m.agent is not None and not m.model_applied)]
        # Upgrading to a model whose agent change this pass won't make would fix nothing.
        if lagging and (change is None or policy.install_agent):
            ids = tuple(sorted((_short(m.id) for m in lagging), key=lambda i: (len(i), i)))
            planner.upgrades.append(Change(UPDATE, InstanceUpgrade(s.id, ids, change.id if change else None)))
    return _gated(planner, policy)


def _gated(planner: _Planner, policy: RemediationPolicy) -> Remediation:
    """Only the kinds their setting allows; what the others would do, in one note line."""
    changes = (planner.installs if policy.install_agent else []) + (planner.upgrades if policy.upgrade_instances else [])
    off = []
    if planner.installs and not policy.install_agent:
        labels = [c.resource.label for c in planner.installs]
        more = f" and {len(labels) - 3} more" if len(labels) > 3 else ""
        off.append(f"INSTALL_AGENT=true would install the agent on {', '.join(labels[:3])}{more}")
    if planner.upgrades and not policy.upgrade_instances:
        count = sum(len(c.resource.instance_ids) for c in planner.upgrades)
        off.append(f"UPGRADE_INSTANCES=true would upgrade {count} Uniform instances to their model "
                   f"({', '.join(c.resource.name for c in planner.upgrades)})")
    # What the agent setting leaves alone is said only when it is on: off, the one line below.
    notes = list(planner.notes) if policy.install_agent else []
    if planner.arm64 and policy.install_agent:
        notes.append(f"agent: not installed on Arm64 {', '.join(sorted(set(planner.arm64)))}: the agent collects no custom "
                     "text logs there; use an x64 size for that nodearray")
    if off:
        notes.append("remediation is off: " + "; ".join(off) + " (doctor explains each machine)")
    return Remediation(tuple(changes), tuple(notes))
