"""A simulated Azure with a CycleCloud cluster, served over HTTPS, and the controller's CLI run
against it in this process, as tests/conftest.py sets it up; plus another team's DCR and
association that the controller must never write to."""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Iterator

from controller.cli import main
from controller.simulator import ArmSimulator, environment

SUB = "00000000-0000-0000-0000-000000000000"
RG = "slurm-rg"
RULES = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Insights/dataCollectionRules"
FOREIGN_RULE = f"{RULES}/other-team-dcr"
ASSOCIATIONS = "/providers/Microsoft.Insights/dataCollectionRuleAssociations/"
# What the controller may write: its own names (the plan's), nothing else: raw tables <pattern>_raw_CL
# and parsed tables <pattern>_CL; with remediation on, its agent extension and the upgrade of a
# cluster scale set's instances.
OURS = re.compile(
    r"(/dataCollectionRules/\w+_raw_dcr|/tables/\w+_CL|/dataCollectionRuleAssociations/slurm-log-controller-\w+_raw_dcr"
    r"|/savedSearches/slurm-log-controller-\w+|/extensions/slurm-log-controller-ama|/virtualMachineScaleSets/slurm1-\w+/manualupgrade)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Run:
    """One CLI invocation: its exit code and what it printed."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def build_sim() -> ArmSimulator:
    """conftest's world: a scheduler VM, a Uniform (hpc, 3) and a Flexible (htc, 2) scale set."""
    sim = ArmSimulator(subscription_id=SUB)
    sim.add_workspace(resource_group=RG, name="logs", location="eastus")
    sim.cluster = sim.add_cyclecloud_cluster(
        resource_group=RG, cluster_name="slurm1", location="eastus",
        nodearrays={"hpc": ("Uniform", 3), "htc": ("Flexible", 2)},
    )
    sim.put(FOREIGN_RULE, {"location": "eastus", "kind": "Linux", "properties": {"description": "another team's"}})
    sim.put(f"{sim.cluster.scheduler_vm_id}{ASSOCIATIONS}other-team", {"properties": {"dataCollectionRuleId": FOREIGN_RULE}})
    sim.writes_seen = []  # (method, path) of every write any client sent
    handle = sim.handle

    def recording(method, target, headers, body, base_url):
        if method in ("PUT", "PATCH", "DELETE") or (method == "POST" and "/v1/workspaces/" not in target):
            sim.writes_seen.append((method, target.split("?", 1)[0]))
        return handle(method, target, headers, body, base_url)

    sim.handle = recording
    return sim


def settings_env(sim, server) -> dict[str, str]:
    return {
        **server.env(),
        "SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": RG, "WORKSPACE_NAME": "logs", "CLUSTER_NAME": "slurm1",
        "VM_ID": sim.cluster.scheduler_vm_id,
    }


def environ(**values: str | None):
    """Set (or, with None, unset) environment variables for the block, then put them back."""
    return environment(values)


@contextlib.contextmanager
def serving(sim: ArmSimulator | None = None) -> Iterator[ArmSimulator]:
    """The simulator served, its settings in the environment, in an empty working directory (a
    developer's .env must not leak in); everything put back after."""
    sim = sim or build_sim()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="reliability-") as scratch, sim.serve() as server:
        sim.server = server
        os.chdir(scratch)
        try:
            with environ(**settings_env(sim, server)):
                yield sim
        finally:
            os.chdir(cwd)


def cli(*argv: str) -> Run:
    """`slurm-log-controller <argv>` in this process, its output captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return Run(code, out.getvalue(), err.getvalue())


def ours(sim) -> dict[str, dict]:
    """The controller's resources, by lowercased id, as Azure holds them."""
    return {r["id"].lower(): r for kind in ("table", "dcr", "association", "function") for r in sim.list(kind) if OURS.search(r["id"])}


def machines_state(sim) -> dict[str, object]:
    """What remediation changes on the machines: the agent extensions of each VM and scale set
    model, and whether each Uniform instance runs its model."""
    state: dict[str, object] = {}
    for vm in sim.list("vm"):
        state[vm["id"].lower()] = sorted(e["name"] for e in sim.list(vm["id"] + "/extensions/"))
    for vmss in sim.list("vmss"):
        profile = vmss["properties"].get("virtualMachineProfile") or {}
        state[vmss["id"].lower()] = sorted(e["name"] for e in (profile.get("extensionProfile") or {}).get("extensions") or ())
    for instance in sim.list("instance"):
        state[instance["id"].lower()] = instance["properties"].get("latestModelApplied")
    return state


def duplicates(sim) -> list[tuple[str, str]]:
    """(machine, rule) pairs associated more than once: a second association, under another name,
    of a rule with a machine."""
    pairs = Counter(
        (a["id"].lower().split(ASSOCIATIONS.lower())[0], a["properties"]["dataCollectionRuleId"].lower())
        for a in sim.list("association")
    )
    return [pair for pair, n in pairs.items() if n > 1]


def foreign_writes(sim) -> list[tuple[str, str]]:
    """Writes sent to anything that isn't the controller's by name."""
    return [(method, path) for method, path in sim.writes_seen if not OURS.search(path.rstrip("/"))]


def metric_samples(path: str) -> dict[str, float]:
    """A node_exporter textfile as {'name{labels}': value}."""
    samples = {}
    with open(path) as text:
        for line in text:
            if line.strip() and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
    return samples
