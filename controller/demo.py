"""`slurm-log-controller demo`: a full reconcile against the built-in simulator, no Azure account.

It goes through the same code as a real run, REAL Azure SDK clients and DefaultAzureCredential
included; only the endpoint they talk to is the simulator on 127.0.0.1.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .azure.clients import AzureClients, default_credential
from .components import Component
from .doctor.checkup import judged_by_workspace, verdicts_of
from .doctor.output import render_table
from .progress import plan_then_apply, render_interrupted
from .reconcile import Reconciler
from .settings import Settings
from .simulator import ArmSimulator, environment

ZERO = "00000000-0000-0000-0000-000000000000"
INTERRUPTED = 130  # Ctrl-C: the shell's convention, as for `run --once`


class DemoSettings(Settings):
    """Only the values the demo gives: no environment variable, no `.env` (a broken one in the
    working directory, or a real deployment's settings, must not reach the simulated Azure)."""

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings,)


def _step(title: str) -> None:
    print(f"\n=== {title}")


def run_demo(components: tuple[Component, ...], nodes: int = 4) -> int:
    sim = ArmSimulator(subscription_id=ZERO)
    sim.add_workspace(resource_group="slurm-rg", name="slurm-logs", location="eastus")
    cluster = sim.add_cyclecloud_cluster(
        resource_group="slurm-rg",
        cluster_name="demo",
        location="eastus",
        nodearrays={"hpc": ("Uniform", nodes), "htc": ("Flexible", nodes)},
    )
    with sim.serve() as server, environment(server.env()):
        settings = DemoSettings(
            subscription_id=ZERO,
            resource_group="slurm-rg",
            workspace_name="slurm-logs",
            cluster_name="demo",
            vm_id=cluster.scheduler_vm_id,
            arm_endpoint=server.endpoint,
            logs_endpoint=server.endpoint,  # the simulator answers Log Analytics queries too
        )
        clients = AzureClients(settings, default_credential(settings))
        reconciler = Reconciler(settings, components, clients)
        fixes = settings.model_copy(update={"install_agent": True, "upgrade_instances": True})
        remediating = Reconciler(fixes, components, clients)

        def reconcile(title: str, remediate: bool = False) -> bool:
            """One pass; False when Ctrl-C stopped it."""
            _step(title)
            sim.reset_calls()
            fixing = remediating if remediate else reconciler
            done = plan_then_apply(fixing)
            if done.plan.changes:
                print(done.result.render())
            if done.result.left:
                print(render_interrupted(done.plan, done.result))
                return False
            print(f"ARM calls: {sim.reads()} reads, {sim.writes()} writes")
            return True

        print(f"Simulated Azure at {server.endpoint}: workspace slurm-logs, cluster 'demo' with a scheduler VM,")
        print(f"nodearray hpc (Uniform VMSS, {nodes} nodes) and nodearray htc (Flexible VMSS, {nodes} VMs).")

        def scale_out() -> None:
            sim.scale(cluster.vmss_ids["htc"], nodes + 2)

        def edit_in_portal() -> None:
            rule_id = f"/subscriptions/{ZERO}/resourceGroups/slurm-rg/providers/Microsoft.Insights/dataCollectionRules/slurmd_raw_dcr"
            edited = sim.get(rule_id)
            edited["properties"]["dataSources"]["logFiles"][0]["filePatterns"] = ["/tmp/slurmd.log"]
            sim.put(rule_id, edited)

        def add_gpu_without_agent() -> None:
            tags = dict(sim.get(cluster.vmss_ids["hpc"])["tags"])
            tags["CycleCloudNodeArray"] = tags["CycleCloudNodeArray"].replace("/hpc", "/gpu")
            sim.add_vmss("slurm-rg", "demo-gpu", "Uniform", 2, tags=tags, vm_size="Standard_NC24ads_A100_v4")

        def doctor(title: str) -> None:
            _step(title)
            sim.tick(5)  # five minutes of the simulated agents: heartbeats and lines where they can send
            now = datetime.now(timezone.utc)
            judged = judged_by_workspace(reconciler, verdicts_of(reconciler, reconciler.plan()), now)
            print(render_table(judged.verdicts, now))

        for title, before in (
            ("1. First pass on an empty subscription: create tables, DCRs, associations", None),
            ("2. Second pass: nothing to do, and it costs list calls only", None),
            ("3. CycleCloud scales htc out by 2 VMs: their associations are added", scale_out),
            ("4. Someone edits slurmd_raw_dcr's file pattern in the portal: the drift is undone", edit_in_portal),
            ("5. A new nodearray gpu (2 nodes) from a template without the agent: associated, and the plan "
             "notes what remediation would do", add_gpu_without_agent),
        ):
            if before:
                before()
            if not reconcile(title):
                return INTERRUPTED
        doctor("6. doctor finds the gpu nodes can't send: no agent")
        if not reconcile("7. A pass with INSTALL_AGENT=true UPGRADE_INSTANCES=true: the agent into gpu's model, "
                         "its instances upgraded", remediate=True):
            return INTERRUPTED
        doctor("8. doctor: every machine can send")
        done = reconciler.plan()
        _step("Done")
        print(done.plan.render())
        return 0 if done.plan.empty else 1
