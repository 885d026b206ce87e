"""Performance of the controller against the simulator, printed as tables.

    python -m benchmarks.run            # the full run: 10 .. 2,000 nodes (about 5 minutes)
    python -m benchmarks.run --quick    # small sizes, to check the benchmark itself works

The simulator runs in this process (its own threads); the controller runs as it does in the field,
as the `slurm-log-controller` CLI in a child process, so its CPU and memory are its own.
Latency is injected on every ARM call (100 ms reads, 300 ms writes), and ARM's token buckets are
emulated with time scaled by SCALE (refill rates x 1/SCALE, bursts unchanged); the controller's
client-side buckets are set to the same scaled rates. Times are reported with the physical limit
they are measured against, so the ratios carry over to ARM's real rates.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

from controller.simulator import ArmSimulator

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ZERO = "00000000-0000-0000-0000-000000000000"
RG = "bench-rg"
READ_LATENCY, WRITE_LATENCY = 0.1, 0.3
SCALE = 0.1  # emulated ARM time: writes refill at 10/SCALE per second
WRITE_BURST, WRITE_RATE, READ_BURST, READ_RATE = 200, 10 / SCALE, 250, 25 / SCALE
# Issue 14's targets for the daemon in sync at 2,000 Flexible nodes (table d).
CPU_PER_PASS_TARGET, PEAK_RSS_TARGET_MB = 0.3, 150
NODE_DCRS = ("slurmd_raw_dcr", "jetpack_raw_dcr", "jetpackd_raw_dcr", "dmesg_raw_dcr", "syslog_raw_dcr")
UNTHROTTLED = {"ARM_WRITES_PER_SECOND": "100000", "ARM_READS_PER_SECOND": "100000", "APPLY_CONCURRENCY": "32"}


def arm_limits(scale: float) -> dict[str, str]:
    """The controller as configured for ARM's real rates, with time scaled alike: its client-side
    buckets get the scaled rates, and its concurrency too (16 writes in flight sustain 10/s at 300 ms
    with 5x headroom; 100/s needs 30, so 48)."""
    return {
        "ARM_WRITE_BURST": str(WRITE_BURST), "ARM_WRITES_PER_SECOND": str(10 / scale),
        "ARM_READ_BURST": str(READ_BURST), "ARM_READS_PER_SECOND": str(25 / scale),
        "APPLY_CONCURRENCY": "48" if scale < 1 else "16",
    }


SCALED_LIMITS = arm_limits(SCALE)


class World:
    """A simulated subscription with one CycleCloud cluster of `nodes` nodes in one scale set."""

    def __init__(self, mode: str, nodes: int, layout: str = "per-component"):
        self.layout = layout
        self.node_dcrs = NODE_DCRS if layout == "per-component" else ("slurm_nodes_dcr",)
        self.sim = ArmSimulator(subscription_id=ZERO)
        self.sim.add_workspace(resource_group=RG, name="logs", location="eastus")
        self.cluster = self.sim.add_cyclecloud_cluster(
            resource_group=RG, cluster_name="bench", location="eastus", nodearrays={"hpc": (mode, nodes)}
        )
        self.server = self.sim.serve()
        self.server.start()
        self.logdir = tempfile.mkdtemp(prefix="bench-")

    def env(self, **extra) -> dict:
        return {
            **os.environ,
            **self.server.env(),
            "SUBSCRIPTION_ID": ZERO, "RESOURCE_GROUP": RG, "WORKSPACE_NAME": "logs", "CLUSTER_NAME": "bench",
            "DCR_LAYOUT": self.layout,
            "PYTHONPATH": REPO,  # benchmarks.naive runs from a scratch directory
            **extra,
        }

    def cli(self, *args: str, **extra) -> tuple[int, float, str]:
        start = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "controller.cli", *args], env=self.env(**extra),
            capture_output=True, text=True, timeout=1800, cwd=self.logdir,
        )
        return done.returncode, time.monotonic() - start, done.stdout + done.stderr

    def naive(self) -> tuple[int, float]:
        start = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "benchmarks.naive"], env=self.env(**UNTHROTTLED),
                              capture_output=True, text=True, timeout=1800, cwd=self.logdir)
        assert done.returncode == 0, done.stderr
        return self.sim.reads(), time.monotonic() - start

    def covered(self, vm_id: str) -> bool:
        """A Flexible VM by its own associations, a Uniform instance by its scale set's."""
        vmss = self.cluster.vmss_ids["hpc"]
        target = vm_id if self.sim.get(vmss)["properties"]["orchestrationMode"] == "Flexible" else vmss
        return all(
            self.sim.get(f"{target}/providers/Microsoft.Insights/dataCollectionRuleAssociations/slurm-log-controller-{rule}")
            for rule in self.node_dcrs
        )

    def stop(self):
        self.server.stop()


def in_sync_pass(world: World) -> dict:
    world.sim.set_latency(read=READ_LATENCY, write=WRITE_LATENCY)
    world.sim.reset_calls()
    code, wall, out = world.cli("plan", **UNTHROTTLED)
    assert code == 0, out
    ours = {"reads": world.sim.reads(), "writes": world.sim.writes(), "wall": wall}
    world.sim.reset_calls()
    naive_reads, naive_wall = world.naive()
    world.sim.set_latency()
    return {**ours, "naive_reads": naive_reads, "naive_wall": naive_wall}


def cold_start(world: World, scale: float = SCALE) -> dict:
    """c) everything from nothing, under ARM's write bucket, its time scaled by `scale` (1: ARM's real rate)."""
    world.sim.set_latency(read=READ_LATENCY, write=WRITE_LATENCY)
    world.sim.emulate_arm_throttling(scale=scale)
    world.sim.reset_calls()
    code, wall, out = world.cli("run", "--once", **arm_limits(scale))
    writes = world.sim.writes()
    limit = (writes - WRITE_BURST) / (10 / scale)
    failed = next((line for line in out.splitlines() if line.startswith("Applied ")), "?")
    world.sim.stop_throttling()
    world.sim.set_latency()
    return {"code": code, "wall": wall, "writes": writes, "limit": limit,
            "throttled": sum(world.sim.throttled.values()), "summary": failed}


def converge(world: World) -> None:
    code, _, out = world.cli("run", "--once", **UNTHROTTLED)
    assert code == 0, out


def _proc_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _proc_peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def daemon_runs(world: World, interval: float, new_vms: tuple[int, ...], scale: float = SCALE) -> dict:
    """b) time to cover new Flexible VMs, and d) CPU and peak RSS of in-sync passes, in a daemon,
    under ARM's buckets with time scaled by `scale` (1: ARM's real rates)."""
    sim = world.sim
    sim.set_latency(read=READ_LATENCY, write=WRITE_LATENCY)
    sim.emulate_arm_throttling(scale=scale)
    log = open(os.path.join(world.logdir, "daemon.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller.cli", "run"],
        # METRICS_PORT=0: no /metrics, so a process already on 9480 can't make the daemon fail.
        env=world.env(RECONCILE_INTERVAL=str(interval), RECONCILE_JITTER="0.1", METRICS_PORT="0", **arm_limits(scale)),
        stdout=log, stderr=subprocess.STDOUT, cwd=world.logdir,
    )
    passes = lambda: sim.calls["DataCollectionRules_ListByResourceGroup"]  # noqa: E731 one per pass
    try:
        sim.reset_calls()

        def wait_for_passes(n: int) -> None:  # a daemon that died must not leave the benchmark waiting
            while passes() < n:
                if proc.poll() is not None:
                    raise RuntimeError(f"the daemon exited ({proc.returncode}): see {log.name}")
                time.sleep(0.1)

        wait_for_passes(2)
        cpu0, p0 = _proc_cpu(proc.pid), passes()
        wait_for_passes(p0 + 3)
        cpu_per_pass = (_proc_cpu(proc.pid) - cpu0) / 3
        reads_per_pass = sim.reads() / passes()
        results = {"cpu_per_pass": cpu_per_pass, "reads_per_pass": reads_per_pass, "cover": {}}
        vmss = world.cluster.vmss_ids["hpc"]
        for count in new_vms:
            time.sleep(interval * 0.37)  # appear at an arbitrary point of the loop's cycle
            before = len(sim.vmss_members(vmss))
            added = sim.scale(vmss, before + count)
            start = time.monotonic()
            while not all(world.covered(vm) for vm in added):
                if time.monotonic() - start > 10 * interval + 120:
                    raise RuntimeError(f"{count} new VMs not covered in time")
                time.sleep(0.05)
            results["cover"][count] = time.monotonic() - start
        results["peak_rss_mb"] = _proc_peak_rss_mb(proc.pid)
        results["throttled"] = sum(sim.throttled.values())
        return results
    finally:
        proc.send_signal(signal.SIGTERM)
        results_code = proc.wait(timeout=60)
        sim.stop_throttling()
        sim.set_latency()
        assert results_code == 0, open(log.name).read()[-2000:]


def per_role_daemon(nodes: int, interval: float) -> dict:
    """d) for DCR_LAYOUT=per-role: the same daemon over the same cluster, one association per node."""
    world = World("Flexible", nodes, "per-role")
    try:
        converge(world)
        return daemon_runs(world, interval, ())
    finally:
        world.stop()
        print(f"  measured Flexible {nodes} per-role", file=sys.stderr)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the benchmark works")
    args = parser.parse_args(argv)
    sizes = (10, 30) if args.quick else (10, 100, 1000, 2000)
    big = sizes[-1]
    interval = 2.0 if args.quick else 10.0
    new_vms = (1, 10) if args.quick else (1, 100)

    print(f"latency {READ_LATENCY * 1000:.0f} ms reads / {WRITE_LATENCY * 1000:.0f} ms writes; "
          f"ARM buckets emulated at SCALE={SCALE}: writes {WRITE_BURST} + {WRITE_RATE:.0f}/s, reads {READ_BURST} + {READ_RATE:.0f}/s\n")
    rows, extra = [], {}
    for mode in ("Uniform", "Flexible"):
        for nodes in sizes:
            world = World(mode, nodes)
            try:
                if mode == "Flexible" and nodes == big:
                    extra["cold"] = cold_start(world)
                else:
                    converge(world)
                rows.append((mode, nodes, in_sync_pass(world)))
                if mode == "Flexible" and nodes == big:
                    extra["daemon"] = daemon_runs(world, interval, new_vms)
            finally:
                world.stop()
            print(f"  measured {mode} {nodes}", file=sys.stderr)
    extra["per-role"] = per_role_daemon(big, interval)

    print("a) ARM calls per in-sync pass (controller: list calls; naive: one GET per resource)")
    print("| scale set | nodes | controller reads | writes | wall s | naive reads | naive wall s | naive / controller | naive s at ARM's 25 reads/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, nodes, r in rows:
        print(f"| {mode} | {nodes} | {r['reads']} | {r['writes']} | {r['wall']:.1f} | {r['naive_reads']} | "
              f"{r['naive_wall']:.1f} | {r['naive_reads'] / r['reads']:.1f}x | {max(0, r['naive_reads'] - 250) / 25:.0f} |")
    print("(wall includes the CLI's start-up, about 1 s; both run 32 requests at once with no client-side limit;")
    print(" the last column is the least time the naive pass needs under ARM's read bucket, 250 burst + 25/s)\n")

    d, per_role = extra["daemon"], extra["per-role"]
    print(f"b) time to cover new Flexible VMs (daemon, interval {interval:.0f} s, {big} nodes already covered)")
    print("| new VMs | associations | seconds until all exist | target (interval + 5 s) |")
    print("|---:|---:|---:|---:|")
    for count, seconds in d["cover"].items():
        print(f"| {count} | {count * len(NODE_DCRS)} | {seconds:.1f} | {interval + 5:.0f} |")
    print()

    c = extra["cold"]
    print(f"c) cold start: {big} Flexible nodes x {len(NODE_DCRS)} node DCRs + scheduler, from an empty subscription")
    print("| writes | seconds | bucket limit (writes - burst) / refill | ratio | 429s | result |")
    print("|---:|---:|---:|---:|---:|---|")
    print(f"| {c['writes']} | {c['wall']:.1f} | {c['limit']:.1f} | {c['wall'] / c['limit']:.2f} | "
          f"{c['throttled']} | exit {c['code']}: {c['summary']} |")
    print(f"(at ARM's real rate of 10 writes/s the same start takes about {c['wall'] / c['limit'] * (c['writes'] - WRITE_BURST) / 10 / 60:.0f} minutes)\n")

    print(f"d) daemon in sync at {big} Flexible nodes")
    print("| DCR_LAYOUT | peak RSS MB | CPU s per pass | ARM reads per pass | 429s during b) and d) |")
    print("|---|---:|---:|---:|---:|")
    for layout, r in (("per-component", d), ("per-role", per_role)):
        print(f"| {layout} | {r['peak_rss_mb']:.0f} | {r['cpu_per_pass']:.2f} | {r['reads_per_pass']:.0f} | {r['throttled']} |")
    print(f"| target | {PEAK_RSS_TARGET_MB} | {CPU_PER_PASS_TARGET} | | 0 |")
    print("(the daemon's user + system CPU from /proc/<pid>/stat over 3 passes, after 2; peak RSS its VmHWM;")
    print(" a pass: the reconcile's lists, plan, an apply with nothing to do, the preflight's lists, report, metrics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
