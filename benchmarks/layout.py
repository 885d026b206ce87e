"""The two DCR layouts side by side (DCR_LAYOUT): cold start and time to cover new VMs.

    python -m benchmarks.layout            # 2,000 nodes, Flexible and Uniform (several minutes)
    python -m benchmarks.layout --quick    # small sizes, to check the benchmark itself works

The same simulated world as benchmarks.run (latency on every ARM call, ARM's token buckets with time
scaled by SCALE): each layout starts from an empty subscription, then a daemon covers new VMs.
"""

from __future__ import annotations

import argparse
import sys

from .run import SCALE, WRITE_BURST, WRITE_RATE, World, cold_start, daemon_runs

LAYOUTS = ("per-component", "per-role")
REAL_WRITES_PER_SECOND = 10  # ARM's write bucket refill per subscription


def measure(mode: str, nodes: int, layout: str, interval: float, new_vms: int) -> dict:
    world = World(mode, nodes, layout)
    try:
        cold = cold_start(world)
        cover = daemon_runs(world, interval, (new_vms,))["cover"][new_vms]
    finally:
        world.stop()
    print(f"  measured {layout} {mode} {nodes}", file=sys.stderr)
    return {**cold, "cover": cover, "per_node": len(world.node_dcrs)}


def real_minutes(cold: dict) -> float:
    """The cold start at ARM's real rate: the real bucket's bound plus what the run spent beyond the
    scaled one (start-up, listing, the tables' long-running creates), which the scale doesn't shrink."""
    overhead = cold["wall"] - max(0.0, cold["limit"])
    return (overhead + max(0, cold["writes"] - WRITE_BURST) / REAL_WRITES_PER_SECOND) / 60


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the benchmark works")
    args = parser.parse_args(argv)
    nodes = 30 if args.quick else 2000
    interval = 2.0 if args.quick else 10.0
    new_vms = 10 if args.quick else 100

    print(f"ARM buckets emulated at SCALE={SCALE}: writes {WRITE_BURST} + {WRITE_RATE:.0f}/s "
          f"(ARM's real rate: {REAL_WRITES_PER_SECOND}/s); daemon interval {interval:.0f} s\n")
    rows = [(mode, layout, measure(mode, nodes, layout, interval, new_vms))
            for mode in ("Flexible", "Uniform") for layout in LAYOUTS]

    print(f"Cold start of {nodes} nodes from an empty subscription, and {new_vms} new VMs covered by the daemon")
    print("| scale set | DCR_LAYOUT | associations per node | writes | seconds | bucket bound s | ratio | "
          f"minutes at ARM's real rate | {new_vms} new VMs: seconds to cover | result |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for mode, layout, r in rows:
        ratio = f"{r['wall'] / r['limit']:.2f}" if r["limit"] > 0 else "within burst"
        print(f"| {mode} | {layout} | {r['per_node']} | {r['writes']} | {r['wall']:.1f} | {max(0.0, r['limit']):.1f} | "
              f"{ratio} | {real_minutes(r):.1f} | {r['cover']:.1f} | exit {r['code']}: {r['summary']} |")
    print("(bucket bound: (writes - burst) / refill, the least time ARM's write bucket allows; a Uniform scale")
    print(" set has one association per DCR for all its instances, so its new VMs are covered already)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
