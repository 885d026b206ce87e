"""The facts preflight judges, read per list: the reconcile pass's inventory and plan, plus one
extension list per scheduler VM, one instance list per Uniform scale set and one VM list per
Flexible scale set (pages aside, the same count at 10 nodes or 2,000)."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from ..azure.compute import ComputeAdapter
from ..cluster import Agent
from ..components import has_directory_wildcard
from ..report import summarize
from ..resources import key
from .preflight import FLEXIBLE_MEMBER, SCHEDULER_VM, UNIFORM_INSTANCE, MachineFacts

if TYPE_CHECKING:  # reconcile plans with these facts: a runtime import would go round in a circle
    from ..reconcile import Pass


def wanted_targets(planned: Pass) -> set[str]:
    """The machines (and Uniform scale sets) whose role has logs to send: their associations are wanted."""
    return {key(a.target_id) for a in planned.desired.associations}


def scale_sets_with_logs(planned: Pass) -> list:
    wanted = wanted_targets(planned)
    return [s for s in planned.cluster.scale_sets if key(s.id) in wanted or any(key(v) in wanted for v in s.members)]


class ScaleSetReads:
    """The preflight's one list per nodearray scale set: begun beside the inventory's VM list
    (observe), since it needs only the scale set, and in the daemon kept between passes for up to
    `keep_for` seconds while the scale set's capacity holds. Agents change slowly, and at 2,000
    Flexible nodes this list is 20 pages with instance views, a third of an in-sync pass's CPU.
    keep_for=0 (one-shot commands, remediation on): read every pass."""

    def __init__(self, compute: ComputeAdapter, keep_for: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.compute, self.keep_for, self.clock = compute, keep_for, clock
        self._kept: dict[str, tuple[float, int, dict]] = {}  # scale set (key) -> (read at, capacity, what was read)
        self._begun: dict[str, Future] = {}

    def begin(self, pool: ThreadPoolExecutor, records) -> None:
        """Start (or take as kept) the read of each of these scale sets (cluster.ScaleSetRecord)."""
        self._begun = {}
        for r in records:
            kept = self._still_kept(r.id, r.capacity)
            if kept is not None:
                self._begun[key(r.id)] = future = Future()
                future.set_result(kept)
            else:
                self._begun[key(r.id)] = pool.submit(self._read, r.id, r.orchestration_mode.lower() == "flexible", r.capacity)

    def _still_kept(self, scale_set_id: str, capacity: int) -> dict | None:
        kept = self._kept.get(key(scale_set_id))
        if kept and self.clock() - kept[0] < self.keep_for and kept[1] == capacity:
            return kept[2]
        return None

    def _read(self, scale_set_id: str, flexible: bool, capacity: int) -> dict:
        """One list for all of a scale set's machines: Flexible members' agents, or Uniform
        instances' latestModelApplied."""
        compute = self.compute
        found = compute.member_agents(scale_set_id) if flexible else compute.instances_on_latest_model(scale_set_id)
        if self.keep_for:
            self._kept[key(scale_set_id)] = (self.clock(), capacity, found)
        return found

    def of(self, scale_set) -> dict:
        """What was read of one of the cluster's scale sets (resources.ScaleSet): the read begun (or
        else kept), unless there was none or it misses a member (a Flexible VM newer than the read)."""
        begun = self._begun.get(key(scale_set.id))
        found = begun.result() if begun else self._still_kept(scale_set.id, scale_set.capacity)
        if found is None or (scale_set.flexible and any(key(m) not in found for m in scale_set.members)):
            found = self._read(scale_set.id, scale_set.flexible, scale_set.capacity)
        return found


def machine_facts(compute: ComputeAdapter, planned: Pass, workers: int = 8, reads: ScaleSetReads | None = None) -> list[MachineFacts]:
    """Every machine whose role has logs to send (its associations are wanted), scheduler first.
    `reads`: the scale sets' lists as observe began them; without, they are read now."""
    reads = reads or ScaleSetReads(compute)
    cluster, inventory = planned.cluster, planned.inventory
    wanted = wanted_targets(planned)
    uncollectable = _uncollectable_patterns(planned)
    vms = {key(m.id): m for m in inventory.machines}
    models = {key(s.id): s for s in inventory.scale_sets}
    sets = scale_sets_with_logs(planned)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        schedulers = {vm: pool.submit(compute.vm_agent, vm) for vm in cluster.scheduler_vms if key(vm) in wanted}
        per_set = {s.id: pool.submit(reads.of, s) for s in sets}
        facts = []
        for vm, agent in schedulers.items():
            record = vms[key(vm)]
            facts.append(MachineFacts(vm, "scheduler", SCHEDULER_VM, record.vm_size, record.identity, agent.result(),
                                      uncollectable=uncollectable.get(key(vm), ())))
        for s in sets:
            model = models[key(s.id)]
            found = per_set[s.id].result()
            if s.flexible:
                for member in s.members:
                    record, agent = vms[key(member)], found.get(key(member))
                    # The instance view has no settings: which identity the agent uses is the model's.
                    agent = agent and Agent(agent.provisioning_state, model.agent and model.agent.identifier, agent.name)
                    facts.append(MachineFacts(member, s.role, FLEXIBLE_MEMBER, record.vm_size, record.identity, agent,
                                              group=s.id, uncollectable=uncollectable.get(key(member), ())))
            else:
                for instance, applied in sorted(found.items()):
                    facts.append(MachineFacts(instance, s.role, UNIFORM_INSTANCE, model.vm_size, model.identity, model.agent,
                                              applied, group=s.id, uncollectable=uncollectable.get(key(s.id), ())))
    return with_coverage(facts, planned)  # after the apply, if there was one


def with_coverage(facts, planned: Pass) -> list[MachineFacts]:
    """Each fact with `associated` as the pass's plan and apply leave it: also how facts read before
    an apply that changed no machine (DCRs, associations, tables only) are judged after it, without
    reading the machines again."""
    uncovered = summarize(planned.plan, planned.cluster, planned.result).uncovered
    judged = []
    for f in facts:
        associated = key(f.target) not in uncovered
        judged.append(f if f.associated == associated else replace(f, associated=associated))
    return judged


def _uncollectable_patterns(planned: Pass) -> dict[str, tuple[str, ...]]:
    """machine or scale set (key) -> the patterns of its DCRs with a wildcard in a directory."""
    bad = {key(r.id): [p for p in r.file_patterns if has_directory_wildcard(p)] for r in planned.desired.rules}
    found: dict[str, list[str]] = {}
    for a in planned.desired.associations:
        found.setdefault(key(a.target_id), []).extend(bad.get(key(a.rule_id), ()))
    return {target: tuple(patterns) for target, patterns in found.items() if patterns}
