"""The MCP server's cost per tool against the simulated workspace, printed as a table.

    python -m benchmarks.mcp            # 300 jobs on 30 nodes, 5 calls per tool
    python -m benchmarks.mcp --quick    # 100 jobs on 5 nodes: checks the benchmark works

The workspace holds what a day of jobs leaves (per job: slurmctld's submit / allocate / complete
lines, slurmd's step lines, the archive's script, environment and 200 output lines), put there as the
agent does: `run --once`, then the simulated agent's transforms (tests/mcpserver/workspace_fill.py). Calls go
through an in-process MCP client session; the server's Logs queries go over HTTPS to the simulator
through azure-monitor-query, as in the field. Per tool: Logs queries, bytes those returned, bytes
of the answer the agent reads, and the median and worst latency.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import statistics
import sys
import time

import anyio
from mcp import Client

from controller.simulator import ArmSimulator
from tests.mcpserver.session import server as mcp_server
from tests.mcpserver.workspace_fill import feed
from tests.support import RG, SUB


def stamp(at: _dt.datetime, seconds: float) -> str:
    """A Slurm log line's timestamp (LogTimeFormat iso8601_ms)."""
    return (at + _dt.timedelta(seconds=seconds)).strftime("[%Y-%m-%dT%H:%M:%S.000]")


def world(jobs: int, nodes: int):
    sim = ArmSimulator(subscription_id=SUB)
    sim.add_workspace(resource_group=RG, name="logs", location="eastus")
    sim.cluster = sim.add_cyclecloud_cluster(resource_group=RG, cluster_name="slurm1", location="eastus",
                                             nodearrays={"hpc": ("Uniform", nodes)})
    machines = sim.list("Microsoft.Compute/virtualMachineScaleSets/virtualMachines")
    names = [m["properties"]["osProfile"]["computerName"] for m in machines]
    start = sim.clock() - _dt.timedelta(hours=20)
    ctld, slurmd, archive = [], {m["id"]: [] for m in machines}, {}
    for job in range(1, jobs + 1):
        at = start + _dt.timedelta(seconds=60 * job)
        node = job % nodes
        code = 1 if job % 5 == 0 else 0
        ctld += [f"{stamp(at, 0)} _slurm_rpc_submit_batch_job: JobId={job} InitPrio=4294901759 usec=385",
                 f"{stamp(at, 1)} sched: Allocate JobId={job} NodeList={names[node]} #CPUs=1 Partition=hpc",
                 f"{stamp(at, 30)} _job_complete: JobId={job} WEXITSTATUS {code}",
                 f"{stamp(at, 30)} _job_complete: JobId={job} done"]
        slurmd[machines[node]["id"]] += [f"{stamp(at, 2)} [{job}.batch] debug:  task/affinity: job {job} CPU input mask",
                                         f"{stamp(at, 30)} [{job}.batch] done with job"]
        base = f"/shared/slurm-logs/job_{job}.alice"
        archive[f"{base}.sh"] = ["#!/bin/sh", "module load gcc", "./simulate --steps 1000"]
        archive[f"{base}.env"] = [f"SLURM_JOB_ID={job}", "SLURM_JOB_USER=alice", "DB_PASSWORD=<redacted>"] + \
            [f"VAR_{i}=value-{i}" for i in range(37)]
        archive[f"{base}.out"] = [f"step {i} residual 0.{i:04d}" for i in range(200)]
    lines = {sim.cluster.scheduler_vm_id: {"/var/log/slurmctld/slurmctld.log": ctld, **archive},
             **{m: {"/var/log/slurmd/slurmd.log": lines} for m, lines in slurmd.items()}}
    return sim, names, lines


def measure(server, calls: list[tuple[str, dict]]) -> list[dict]:
    async def session():
        found = []
        async with Client(server) as client:
            for tool, arguments in calls:
                started = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                found.append({"tool": tool, "seconds": time.perf_counter() - started, "error": result.is_error,
                              "answer": result.structured_content or {}})
        return found

    return anyio.run(session)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the benchmark works")
    args = parser.parse_args(argv)
    jobs, nodes, repeat = (100, 5, 3) if args.quick else (300, 30, 5)
    sim, names, lines = world(jobs, nodes)
    with sim.serve() as served:
        os.environ.update({**served.env(), "SUBSCRIPTION_ID": SUB, "RESOURCE_GROUP": RG, "WORKSPACE_NAME": "logs",
                           "CLUSTER_NAME": "slurm1"})
        with contextlib.redirect_stdout(sys.stderr):  # run --once's report is not the benchmark's table
            feed(sim, lines)
        sim.tick(minutes=2)  # heartbeats
        server = mcp_server()
        since = (sim.clock() - _dt.timedelta(days=1)).isoformat()
        plan = [("job_story", {"job_id": 5 * (i + 1)}) for i in range(repeat)]
        plan += [("failed_jobs", {"hours": 24})] * repeat
        plan += [("node_health", {"node": names[i % nodes]}) for i in range(repeat)]
        plan += [("collection_status", {})] * max(1, repeat // 5)
        plan += [("list_tables", {})] * repeat
        plan += [("run_kql", {"kql": "slurmctld_CL | summarize count() by bin(TimeGenerated, 1h)", "since": since})] * repeat
        results = measure(server, plan)
    failed = [r for r in results if r["error"]]
    print(f"MCP tools over a simulated workspace: {jobs} jobs on {nodes} nodes, in-process client, "
          "Logs queries over HTTPS to the simulator\n")
    print("| tool | calls | Logs queries | bytes from Logs | answer bytes | truncated | median ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for tool in dict.fromkeys(r["tool"] for r in results):
        mine = [r for r in results if r["tool"] == tool and not r["error"]]
        if not mine:
            continue
        source = [r["answer"].get("source", {}) for r in mine]
        answer = [len(json.dumps(r["answer"], separators=(",", ":"))) for r in mine]
        ms = [1000 * r["seconds"] for r in mine]
        print(f"| {tool} | {len(mine)} | {max(s.get('queries', 0) for s in source)} | "
              f"{statistics.median(s.get('bytes_read', 0) for s in source):.0f} | {max(answer)} | "
              f"{sum(bool(r['answer'].get('truncated')) for r in mine)} | {statistics.median(ms):.0f} | {max(ms):.0f} |")
    print("\n(Logs queries: the most any call took; bytes from Logs: median JSON bytes of the rows returned;")
    print(" answer bytes: the largest structured answer, compact JSON; collection_status also reads Resource Manager)")
    print(f"failed {len(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
