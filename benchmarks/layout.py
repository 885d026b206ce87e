"""The two DCR layouts side by side (DCR_LAYOUT): cold start and time to cover new VMs.

    python -m benchmarks.layout              # 2,000 nodes, Flexible and Uniform (about 10 minutes)
    python -m benchmarks.layout --quick      # small sizes, to check the benchmark itself works
    python -m benchmarks.layout --real-rate  # Flexible at ARM's real rate: per-role cold start, new VMs (8 minutes)

The same simulated world as benchmarks.run (latency on every ARM call, ARM's token buckets with time
scaled by SCALE): each layout starts from an empty subscription, then a daemon covers new VMs and
its in-sync passes are measured (CPU, peak RSS, reads).
"""

from __future__ import annotations

import argparse
import sys

from .run import CPU_PER_PASS_TARGET, PEAK_RSS_TARGET_MB, SCALE, WRITE_BURST, WRITE_RATE, World, cold_start, converge, daemon_runs

LAYOUTS = ("per-component", "per-role")
REAL_WRITES_PER_SECOND = 10  # ARM's write bucket refill per subscription


def measure(mode: str, nodes: int, layout: str, interval: float, new_vms: int) -> dict:
    world = World(mode, nodes, layout)
    try:
        cold = cold_start(world)
        daemon = daemon_runs(world, interval, (new_vms,))
    finally:
        world.stop()
    print(f"  measured {layout} {mode} {nodes}", file=sys.stderr)
    return {**cold, **daemon, "cover": daemon["cover"][new_vms], "per_node": len(world.node_dcrs)}


def overhead(cold: dict) -> float:
    """What the cold start spent beyond the scaled bucket's bound: start-up, listing, the tables'
    long-running creates, the DCRs (nothing can be associated before its DCR exists). Time scaling
    doesn't shrink it."""
    return cold["wall"] - max(0.0, cold["limit"])


def real_bound(cold: dict) -> float:
    return max(0, cold["writes"] - WRITE_BURST) / REAL_WRITES_PER_SECOND


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: checks that the benchmark works")
    parser.add_argument("--real-rate", action="store_true",
                        help="Flexible at ARM's real rate: the per-role cold start, then new VMs covered in each layout")
    args = parser.parse_args(argv)
    nodes = 30 if args.quick else 2000
    interval = 2.0 if args.quick else 10.0
    new_vms = 10 if args.quick else 100
    if args.real_rate:
        return real_rate(nodes, interval, new_vms)

    print(f"ARM buckets emulated at SCALE={SCALE}: writes {WRITE_BURST} + {WRITE_RATE:.0f}/s "
          f"(ARM's real rate: {REAL_WRITES_PER_SECOND}/s); daemon interval {interval:.0f} s\n")
    rows = [(mode, layout, measure(mode, nodes, layout, interval, new_vms))
            for mode in ("Flexible", "Uniform") for layout in LAYOUTS]

    print(f"Cold start of {nodes} nodes from an empty subscription, {new_vms} new VMs covered by the daemon, and its in-sync passes")
    print("| scale set | DCR_LAYOUT | associations per node | writes | seconds | bucket bound s | beyond the bound s | "
          f"minutes at ARM's real rate | ratio at ARM's real rate | {new_vms} new VMs: seconds to cover | "
          "CPU s per pass | peak RSS MB | reads per pass | result |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for mode, layout, r in rows:
        bound = real_bound(r)
        ratio = f"{(overhead(r) + bound) / bound:.3f}" if bound > 0 else "within burst"
        print(f"| {mode} | {layout} | {r['per_node']} | {r['writes']} | {r['wall']:.1f} | {max(0.0, r['limit']):.1f} | "
              f"{overhead(r):.1f} | {(overhead(r) + bound) / 60:.1f} | {ratio} | {r['cover']:.1f} | "
              f"{r['cpu_per_pass']:.2f} | {r['peak_rss_mb']:.0f} | {r['reads_per_pass']:.0f} | exit {r['code']}: {r['summary']} |")
    print("(bucket bound: (writes - burst) / refill, the least time ARM's write bucket allows; beyond it: start-up, lists,")
    print(" the tables' long-running creates and the DCRs, before which nothing can be associated. At ARM's real rate:")
    print(" the real bucket's bound plus that. A Uniform scale set has one association per DCR for all its instances, so")
    print(f" its new VMs are covered already. Targets per pass: CPU {CPU_PER_PASS_TARGET} s, peak RSS {PEAK_RSS_TARGET_MB} MB)")
    return 0


def real_rate(nodes: int, interval: float, new_vms: int) -> int:
    """ARM's real buckets (writes 200 + 10/s), no time scaling: the per-role cold start; then, for
    each layout from a converged cluster and a full bucket, the daemon covering new VMs."""
    world = World("Flexible", nodes, "per-role")
    try:
        r = cold_start(world, scale=1.0)
    finally:
        world.stop()
    covers = {}
    for layout in LAYOUTS:
        world = World("Flexible", nodes, layout)
        try:
            converge(world)
            covers[layout] = daemon_runs(world, interval, (new_vms,), scale=1.0)["cover"][new_vms]
        finally:
            world.stop()
        print(f"  measured {layout} Flexible {nodes} covering {new_vms} VMs at the real rate", file=sys.stderr)
    print(f"Cold start of {nodes} Flexible nodes, DCR_LAYOUT=per-role, ARM's write bucket at its real rate "
          f"({WRITE_BURST} + {REAL_WRITES_PER_SECOND}/s)")
    print("| writes | seconds | minutes | bucket bound s | ratio | 429s | result |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    ratio = f"{r['wall'] / r['limit']:.3f}" if r["limit"] > 0 else "within burst"
    print(f"| {r['writes']} | {r['wall']:.1f} | {r['wall'] / 60:.1f} | {max(0.0, r['limit']):.1f} | {ratio} | "
          f"{r['throttled']} | exit {r['code']}: {r['summary']} |")
    print(f"\n{new_vms} new Flexible VMs at the real rate (daemon, interval {interval:.0f} s, {nodes} nodes covered, bucket full)")
    print("| DCR_LAYOUT | associations | seconds until all exist |")
    print("|---|---:|---:|")
    for layout, seconds in covers.items():
        print(f"| {layout} | {new_vms * (5 if layout == 'per-component' else 1)} | {seconds:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
