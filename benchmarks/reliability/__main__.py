"""Reliability figures: faults injected and passes to converge, kills survived, bad input refused.

    python -m benchmarks.reliability                 # everything (2 to 5 minutes): docs/reliability.md's figures
    python -m benchmarks.reliability --short         # a few of each, as CI runs it
    python -m benchmarks.reliability --write docs/reliability.md

Prints the figures as Markdown tables (or writes them, with the page around them, to --write's
path); exits 1 when any promise was broken, naming it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

from .abuse import CASES, abuse_runs
from .badinput import refusals
from .crash import REMEDIATION, crash_runs
from .faults import ARM, SCENARIOS, run_scenario
from .world import serving

SHORT_SCENARIOS = ("429 storm: ARM's write bucket empty", "503 on every DCR write until it stops",
                   "hung read", "Logs: 429 storm")
FULL_KILLS, SHORT_KILLS = 24, 3
REMEDIATION_KILLS = 12
SHORT_BAD_INPUTS = 4  # of each kind
SHORT_ABUSE = CASES[::4]
DOC_INTRO = """# Reliability

What the controller promises under faults, crashes, bad input and abuse of its MCP server,
measured against the simulator with the real Azure SDK clients. Every figure below comes from one command:

    python -m benchmarks.reliability --write docs/reliability.md

(`--short` runs a few of each: CI does, through `tests/test_reliability_benchmark.py`). The same
scenarios are the project's tests: `tests/test_fault_matrix.py` (every fault),
`tests/test_crash_safety.py` (20 kills), `tests/test_bad_input.py` (the bad-input corpus),
`tests/test_secrets.py` (no secret out), `tests/test_mcp_abuse.py` (the MCP server under abuse).
The harness is `benchmarks/reliability/`; a new capability adds rows to its tables.

The world: a workspace, a scheduler VM, a Uniform scale set of 3 and a Flexible one of 2, cold
(56 resources to create: 20 tables, raw and parsed, 10 DCRs, 23 associations, 3 workspace functions), plus another team's DCR and
association, which must never be written to.
"""
FAULTS_NOTE = """
*converged after* is the passes (ARM: `run --once`; Logs: `doctor`) after the fault stopped until
in sync (`plan` exits 0; `doctor` exits 0 with no warning); 0 means the faulty pass itself got
there, through azure-core's retries. *promised* is what the test allows. Every scenario also
checks: no traceback, no rule associated twice with a machine, no write to anything that isn't
ours by name, and the named metric above 0 in a pass's `--metrics-file` (Logs: a `run --once
--metrics-file` with the same fault after `doctor`'s run, as the daemon's workspace check sees it).
"""
CRASH_NOTE = """
A kill point is the nth write or table-operation poll the daemon sends after it starts (n from a
seeded generator, at most 24), or, taking turns with it, the nth table, DCR or association write
(at most 8; so each kind is hit whatever order a loaded machine sends them in), killed from inside the simulator while that request is in flight
(with APPLY_CONCURRENCY=4, 50 ms writes: others in flight too), and whether the request reached
Azure (its answer lost) or not. Each cold start is killed again and again until it converges;
then a last daemon is left to finish and stopped with SIGTERM. Compared with a run never killed:
the same resources with the same properties (etags and timestamps aside), no orphan, no
duplicate, no write to what isn't ours, no table operation left running.
"""
REMEDIATION_NOTE = """
The same, with INSTALL_AGENT=true and UPGRADE_INSTANCES=true on a converged cluster that gained two
nodearrays made without the agent (Uniform and Flexible, 3 nodes each): the pass's writes are
remediation's alone (the agent into 2 scale set models and onto 3 Flexible members, 1 upgrade of
the Uniform instances), killed within its first 8 writes and polls. Also compared: each VM's and
each scale set model's extensions, and whether each Uniform instance runs its model.
"""



def fault_table(outcomes) -> list[str]:
    lines = ["| fault | API | exit while it lasts | seconds | what it shows | converged after | promised | metric | holds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        s = o.scenario
        metric = s.metric.replace("slurm_log_controller_", "") if s.metric else "-"
        shown = "; ".join(f"`{word}`" for word in s.shown) or "-"
        lines.append(f"| {s.name} | {'ARM' if s.api == ARM else 'Logs'} | {o.during.code} | {o.seconds:.1f} | {shown} | "
                     f"{o.passes_after if o.passes_after is not None else 'never'} | {s.converges_within} | "
                     f"`{metric}` | {'yes' if not o.problems else 'NO: ' + '; '.join(o.problems)} |")
    return lines


def crash_table(runs, what: str = "cold starts") -> list[str]:
    kills = [k for r in runs for k in r.kills]
    by_operation = {}
    for k in kills:
        by_operation[k.operation] = by_operation.get(k.operation, 0) + 1
    lines = ["| figure | value |", "|---|---|",
             f"| {what} | {len(runs)} |",
             f"| kills (SIGKILL) | {len(kills)} |",
             f"| ... the request in flight had reached Azure / had not | {sum(k.point.landed for k in kills)} / "
             f"{sum(not k.point.landed for k in kills)} |",
             f"| ... with a table creation pending | {sum(bool(k.tables_pending) for k in kills)} |"]
    lines += [f"| ... during `{op}` | {n} |" for op, n in sorted(by_operation.items())]
    lines += [f"| restarts per run | {', '.join(str(r.restarts_to_converge) for r in runs)} |",
              f"| ended as the run never killed | {sum(not r.problems for r in runs)}/{len(runs)} |"]
    return lines


def bad_input_table(results) -> list[str]:
    lines = ["| input | cases | refused cleanly (exit 2, `error:` lines only, no request to Azure) |", "|---|---|---|"]
    for kind in ("setting", "config"):
        mine = [r for r in results if r.kind == kind]
        lines.append(f"| bad {kind}s | {len(mine)} | {sum(not r.problems for r in mine)} |")
    return lines


ABUSE_NOTE = """
Each case goes through the SDK's in-memory client (all in one session, which must survive them)
and the Streamable HTTP transport with a valid Entra ID token. *holds*: refused with a tool error
naming what's wrong, or answered within its byte cap (8 KB by default) with `truncated` set where
the caps cut; no Azure token, managed-identity header, bearer token or value the archive should
have redacted in any answer; the server still answers afterwards. The tokens are refused with
401 and `WWW-Authenticate: Bearer` before anything is read.
"""


def abuse_table(outcomes) -> list[str]:
    lines = ["| abuse | in-memory | HTTP |", "|---|---|---|"]
    for case in dict.fromkeys(o.case for o in outcomes):
        cells = {o.transport: "yes" if not o.problems else "NO: " + "; ".join(o.problems) for o in outcomes if o.case == case}
        lines.append(f"| {case} | {cells.get('in-memory', '-')} | {cells.get('HTTP', '-')} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reliability", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a few of each, as CI runs it")
    parser.add_argument("--write", metavar="PATH", help="write the page (docs/reliability.md) there instead of printing the tables")
    args = parser.parse_args(argv)
    started = time.monotonic()
    scenarios = [s for s in SCENARIOS if s.name in SHORT_SCENARIOS] if args.short else SCENARIOS
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="reliability-metrics-") as scratch:
        for scenario in scenarios:
            with serving() as sim:
                outcomes.append(run_scenario(sim, scenario, os.path.join(scratch, "metrics.prom")))
    runs = crash_runs(SHORT_KILLS if args.short else FULL_KILLS, seed=0)
    remediation_runs = crash_runs(SHORT_KILLS if args.short else REMEDIATION_KILLS, seed=1, workload=REMEDIATION)
    with serving() as sim:
        bad = refusals(sim, SHORT_BAD_INPUTS if args.short else None)
    with serving() as sim:
        abuse = abuse_runs(sim, SHORT_ABUSE if args.short else CASES)
    sections = [
        f"## Faults: {len(outcomes)} injected", "", *fault_table(outcomes), FAULTS_NOTE,
        f"## Crashes: {sum(len(r.kills) for r in runs)} kills in cold starts", "", *crash_table(runs), CRASH_NOTE,
        f"## Crashes: {sum(len(r.kills) for r in remediation_runs)} kills in remediation runs", "",
        *crash_table(remediation_runs, "remediation runs"), REMEDIATION_NOTE,
        f"## Bad input: {len(bad)} cases", "", *bad_input_table(bad), "",
        f"## The MCP server under abuse: {len(set(o.case for o in abuse))} cases", "", *abuse_table(abuse), ABUSE_NOTE,
        f"Measured in {time.monotonic() - started:.0f} s{' (--short)' if args.short else ''}.",
    ]
    text = "\n".join(sections) + "\n"
    if args.write:
        with open(args.write, "w") as page:
            page.write(DOC_INTRO + "\n" + text)
    else:
        print(text)
    broken = [f"{o.scenario.name}: {'; '.join(o.problems)}" for o in outcomes if o.problems]
    broken += [f"crash run: {'; '.join(r.problems)}" for r in runs + remediation_runs if r.problems]
    broken += [f"bad {r.kind} {r.case}: {'; '.join(r.problems)}" for r in bad if r.problems]
    broken += [f"MCP abuse {o.case} ({o.transport}): {'; '.join(o.problems)}" for o in abuse if o.problems]
    for line in broken:
        print(f"broken: {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
