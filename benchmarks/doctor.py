"""What one `doctor` costs at 10 .. 2,000 nodes, printed as a table: ARM reads (list pages, never a
GET per machine), Logs queries (2 at any size), the rows the workspace sent back, and wall time.

    python -m benchmarks.doctor            # Uniform and Flexible, 10 .. 2,000 nodes (about 3 minutes)
    python -m benchmarks.doctor --quick    # small sizes, to check the benchmark itself works

Each world is associated first (`run --once`) and its agents send for two minutes (the simulated
data plane: a Heartbeat and a record per table a minute), so the freshness queries have a row per
machine and table to summarize, as on a live cluster. `doctor` runs as the CLI in a child process.
"""

from __future__ import annotations

import argparse
import sys

from controller.simulator.logs import QUERY_OPERATION

from .run import UNTHROTTLED, World, converge


def doctor_pass(world: World) -> dict:
    world.sim.tick(2)
    world.sim.queries.clear()
    world.sim.reset_calls()
    reads_before = world.sim.reads()
    code, wall, out = world.cli("doctor", "--json", **UNTHROTTLED)
    assert code in (0, 4), out[-2000:]
    queries = world.sim.calls[QUERY_OPERATION]
    gets = sum(n for op, n in world.sim.calls.items() if op.endswith("_Get") and op != "Workspaces_Get")
    return {"arm_reads": world.sim.reads() - reads_before - queries, "queries": queries, "single_gets": gets,
            "wall": wall, "code": code}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the benchmark works")
    args = parser.parse_args(argv)
    sizes = (10, 30) if args.quick else (10, 100, 1000, 2000)
    rows = []
    for mode in ("Uniform", "Flexible"):
        for nodes in sizes:
            world = World(mode, nodes)
            try:
                converge(world)
                rows.append((mode, nodes, doctor_pass(world)))
            finally:
                world.stop()
            print(f"  measured {mode} {nodes}", file=sys.stderr)
    print("doctor: reads per pass (one nodearray and the scheduler, associated, agents sending)")
    print("| scale set | nodes | ARM reads | single-machine GETs | Logs queries | wall s | exit |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for mode, nodes, r in rows:
        print(f"| {mode} | {nodes} | {r['arm_reads']} | {r['single_gets']} | {r['queries']} | {r['wall']:.1f} | {r['code']} |")
    print("(ARM reads grow with list pages of 100, never per machine; wall includes the CLI's start-up, about 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
