"""slurm-log-controller: validate | render | plan | run | doctor | mcp | demo."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from azure.core.exceptions import AzureError

from . import __version__
from .azure.clients import AzureClients, default_credential
from .azure.errors import describe
from .desired import rules_of_component, who_watches
from .doctor.checkup import judged_by_workspace, verdicts_of
from .doctor.output import FORMAT_VERSION, render_json, render_table
from .components import Role, default_config_path, find_config, load_components, load_config
from .errors import UserError
from .logs import configure_logging, log_blocked, log_changes
from .loop import Loop, LoopTiming
from .metrics import HealthServer, Metrics
from .observe import observe_workspace
from .plan_output import colour_for
from .progress import LINE_EVERY, plan_then_apply, render_interrupted
from .reconcile import REQUIRED, Pass, Reconciler, target_for
from .functions import desired_functions
from .render import render
from .report import Report, summarize
from .resources import same_region
from .settings import load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT, EXIT_CANNOT_SEND, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
# `plan --detailed-exitcode`, as `terraform plan -detailed-exitcode`: 0 no changes, 1 error, 2 changes.
TERRAFORM_ERROR, TERRAFORM_CHANGES = 1, 2
log = logging.getLogger("slurm-log-controller")
# A pass at 2,000 Flexible nodes parses some 60,000 JSON objects and drops them all by its end: with
# Python's default young-generation threshold (700) the cycle collector takes 15% of its CPU.
GC_YOUNG_THRESHOLD = 20_000
# The daemon reads an unchanged scale set's agents (a list with instance views) at most this often.
MACHINE_REREAD_SECONDS = 300


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors: one line, exit 2, like every user error
        raise UserError(f"{self.prog}: {message} (see --help)")


def _reconciler(args, settings, metrics: Metrics | None = None, keep_machine_reads: float = 0.0) -> Reconciler:
    config = load_config(args.config)
    clients = AzureClients(settings, default_credential(settings), on_response=metrics and metrics.record_response)
    return Reconciler(settings, config.components, clients, config.nodearray_roles, keep_machine_reads)


def _measured_pass(metrics: Metrics, run: Callable[[Callable], Pass]) -> tuple[Pass, Report]:
    """One pass, `run(on_result)`, with its report in the metrics whatever its end."""
    metrics.pass_started()
    started = time.time()
    try:
        done = run(metrics.record_change)
    except Exception:
        metrics.record_pass(None, started, ok=False)
        raise
    report = summarize(done.plan, done.cluster, done.result)
    metrics.record_pass(report, started, ok=done.result.ok)
    return done, report


def cmd_validate(args, settings) -> int:
    path, reason = find_config(args.config)
    config = load_config(path)
    components = config.components
    settings.require(*REQUIRED)
    settings.require_cluster_identity()
    tagged = settings.cluster_name or "<the cluster's name>"
    cluster = settings.cluster_name or "(read by plan/run from the ClusterName tag of the VM_ID/VMSS_ID machines)"
    print(f"config:       {path} ({reason})")
    print(f"subscription: {settings.subscription_id}")
    print(f"workspace:    {settings.workspace_name} (resource group {settings.workspace_rg})")
    print(f"DCRs in:      resource group {settings.resource_group}")
    print(f"cluster:      {cluster} (machines searched in: {', '.join(settings.discovery_resource_groups)})")
    print(f"scheduler VM: {settings.vm_id or '(the VM tagged Name=' + settings.scheduler_node_name + ')'}")
    print(f"compute VMSS: {', '.join(settings.compute_vmss_ids) or '(tagged ClusterName=' + tagged + ')'}")
    print(f"policy:       {settings.policy.value}{' (tables may be deleted)' if settings.allow_table_delete else ''}")
    fixes = [name for name, on in (("INSTALL_AGENT", settings.install_agent), ("UPGRADE_INSTANCES", settings.upgrade_instances)) if on]
    print(f"remediation:  {', '.join(fixes) or 'off (plan notes what INSTALL_AGENT / UPGRADE_INSTANCES would do)'}")
    print(f"endpoint:     {settings.resource_manager}")
    print("nodearrays:   " + ", ".join(f"{n}: {r.value}" for n, r in config.nodearray_roles.items()) + ", any other: nodes")
    off = f" ({len(config.switched_off)} more switched off: {', '.join(config.switched_off)})" if config.switched_off else ""
    rules = rules_of_component(components, settings.dcr_layout)
    print(f"\n{len(components)} components{off} (DCR_LAYOUT={settings.dcr_layout.value}):")
    print(f"  {'table':<22} {'DCR':<22} {'roles':<22} files")
    for c in components:
        roles = "+".join(r.value for r in Role if r in c.roles)
        print(f"  {c.table:<22} {'+'.join(rules[c.pattern]):<22} {roles:<22} {', '.join(c.files)}")
    functions = desired_functions(components, settings.workspace_id, None)
    print("workspace functions: " + (", ".join(f"{f.function_alias}({f.function_parameters})" for f in functions) or "none"))
    for c in components:
        for pattern in c.directory_wildcards():
            print(f"warning: {who_watches(rules[c.pattern])} {pattern}: a wildcard in a directory, which the Azure Monitor Agent "
                  "may not collect; wildcard the file name only", file=sys.stderr)
    return EXIT_OK


def cmd_render(args, settings) -> int:
    components = load_components(args.config)
    settings.require(*REQUIRED, *(("region",) if args.offline else ()))
    target = target_for(settings, _render_region(args, settings), settings.cluster_name)
    written = render(components, target, Path(args.out), settings.dcr_layout)
    print(f"wrote {len(written)} files under {args.out}")
    return EXIT_OK


def _render_region(args, settings) -> str:
    """A DCR must be in its workspace's region (Azure refuses another): the workspace's own, read
    from Azure; REGION only with --offline, where nothing is read."""
    if args.offline:
        return settings.region
    location = observe_workspace(AzureClients(settings, default_credential(settings)), settings).location
    if settings.region and not same_region(settings.region, location):
        print(f"warning: REGION={settings.region} ignored: workspace {settings.workspace_name} is in {location}, "
              "and a DCR must be in its workspace's region", file=sys.stderr)
    return location


def cmd_plan(args, settings) -> int:
    planned = _reconciler(args, settings).plan()
    print(planned.plan.to_json() if args.json else planned.plan.render(colour_for(sys.stdout)))
    if planned.plan.converged:
        return EXIT_OK
    return TERRAFORM_CHANGES if args.detailed_exitcode else EXIT_DRIFT


def _record_preflight(metrics: Metrics, reconciler: Reconciler, done: Pass):
    """The preflight's reads come after the pass's, and its failure is not the pass's: the verdicts,
    or None when they couldn't be read."""
    try:
        verdicts = verdicts_of(reconciler, done)
    except UserError as exc:  # a missing permission to read extensions, say: the pass still did its work
        log.warning("preflight of the machines failed: %s", exc)
        return None
    except AzureError as exc:
        log.warning("preflight of the machines failed: %s", describe(exc))
        return None
    metrics.record_preflight(verdicts)
    return verdicts


class WorkspaceCheck:
    """The daemon's look at the workspace, every FRESHNESS_INTERVAL seconds rather than every pass."""

    def __init__(self, metrics: Metrics, reconciler: Reconciler, clock: Callable[[], float] = time.monotonic):
        self.metrics, self.reconciler, self.clock = metrics, reconciler, clock
        self.interval = reconciler.settings.freshness_interval
        self.last: float | None = None

    def after(self, verdicts) -> None:
        now = self.clock()
        if not self.interval or verdicts is None or (self.last is not None and now - self.last < self.interval):
            return
        self.last = now
        judged = judged_by_workspace(self.reconciler, verdicts, datetime.now(timezone.utc))
        if judged.warning:
            log.warning("%s", judged.warning)
        self.metrics.record_workspace(judged)


def cmd_doctor(args, settings) -> int:
    """Reads only, writes nothing: 0 when every machine with logs to send can and does, 4 when any can't."""
    reconciler = _reconciler(args, settings)
    now = datetime.now(timezone.utc)
    judged = judged_by_workspace(reconciler, verdicts_of(reconciler, reconciler.plan()), now)
    if judged.warning:
        print(f"warning: {judged.warning}", file=sys.stderr)
    verdicts = judged.verdicts
    print(render_json(verdicts, now) if args.json else render_table(verdicts, now))
    return EXIT_OK if all(v.ok for v in verdicts) else EXIT_CANNOT_SEND


def cmd_run(args, settings) -> int:
    metrics = Metrics(settings.reconcile_interval)
    reconciler = _reconciler(args, settings, metrics, 0.0 if args.once else MACHINE_REREAD_SECONDS)
    if args.once:
        try:
            done, report = _measured_pass(metrics, lambda on_result: plan_then_apply(reconciler, on_result, args.progress_every))
            verdicts = _record_preflight(metrics, reconciler, done)
            if args.metrics_file:  # the only way these metrics are seen: then they are worth 2 queries
                WorkspaceCheck(metrics, reconciler).after(verdicts)
        except KeyboardInterrupt:  # Ctrl-C while reading Azure; during the apply it stops the apply
            print("interrupted while reading Azure: nothing was changed", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            if args.metrics_file:
                metrics.write_textfile(args.metrics_file)
        print(done.result.render())
        if done.result.left:
            print(render_interrupted(done.plan, done.result))
        print(report.line())
        if done.result.left:
            return EXIT_INTERRUPTED
        # Resources with our names that aren't ours leave the configuration not in effect.
        return EXIT_OK if done.result.ok and not done.plan.skipped else EXIT_FAILED

    workspace = WorkspaceCheck(metrics, reconciler)

    def one_pass(stop) -> bool:
        done, report = _measured_pass(metrics, lambda on_result: reconciler.run_once(stop, on_result))
        workspace.after(_record_preflight(metrics, reconciler, done))
        log.info("%s %s", done.plan.headline(), report.line())
        log_changes(log, done.result.results)
        log_blocked(log, done.plan.skipped)
        return done.result.ok

    timing = LoopTiming(settings.reconcile_interval, settings.reconcile_jitter)
    loop = Loop(one_pass, timing)
    loop.install_signal_handlers()
    server = None
    if settings.metrics_port:
        # A loop that makes no progress for this long is stuck: /healthz says so, and gets it restarted.
        stale_after = max(10 * timing.interval, timing.max_backoff + 2 * timing.interval)
        server = HealthServer(metrics, settings.metrics_address, settings.metrics_port, stale_after).start()
        log.info("metrics on http://%s:%d/metrics", settings.metrics_address, server.port)
    log.info("reconciling every %.0f s (+/- %.0f%%)", settings.reconcile_interval, settings.reconcile_jitter * 100)
    try:
        return loop.run()
    finally:
        if server:
            server.stop()


def cmd_mcp(args, settings) -> int:
    """Serves until interrupted; reads only. The SDK is imported here, so other commands don't load it."""
    from .mcp.run import serve

    serve(settings, args.config, args.transport)
    return EXIT_OK


def cmd_demo(args, settings=None) -> int:
    """The demo makes its own settings: main reads none for it (a broken .env must not break it)."""
    from .demo import run_demo

    # Nor the config the environment or the working directory would pick: the packaged one, or --config.
    return run_demo(load_components(args.config or default_config_path()), nodes=args.nodes)


def _at_least(minimum, number=int):
    """An argparse type: a number no smaller than `minimum`."""

    def parse(text: str):
        try:
            value = number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {text}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="slurm-log-controller", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name, func, help, reads_settings=True):
        p = sub.add_parser(name, help=help, description=help)
        p.add_argument("--config", type=Path, help="components file (default: $SLURM_LOG_CONTROLLER_CONFIG, "
                       "./config/components.yaml, /etc/slurm-log-controller/components.yaml, the packaged one)")
        p.add_argument("-v", "--verbose", action="count", default=0,
                       help="-v: one line per Azure request (and azure-identity's warnings); -vv: with bodies")
        p.set_defaults(func=func, reads_settings=reads_settings)
        return p

    command("validate", cmd_validate, "load config and settings, print what would be managed")
    p = command("render", cmd_render, "write each DCR's, table's and workspace function's ARM request body, in the workspace's region")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--offline", action="store_true", help="read nothing from Azure: the DCRs go in REGION")
    p = command("plan", cmd_plan, "read Azure, print the changes; exit 0 in sync, 3 on drift or resources in the way")
    p.add_argument("--json", action="store_true", help="machine-readable plan (format: controller/data/plan.schema.json)")
    p.add_argument(
        "--detailed-exitcode", action="store_true",
        help="exit as `terraform plan -detailed-exitcode`: 0 in sync, 1 any error, 2 changes or resources in the way",
    )
    p = command("run", cmd_run, "reconcile every RECONCILE_INTERVAL seconds until SIGTERM (or once)")
    p.add_argument("--once", action="store_true", help="one pass, then exit: 0 converged, 1 a change failed")
    p.add_argument("--metrics-file", metavar="PATH", help="with --once: write the metrics there, in node_exporter's textfile format")
    p.add_argument("--progress-every", metavar="SECONDS", type=_at_least(1, float), default=LINE_EVERY,
                   help=f"with --once, when stderr is not a terminal: seconds between progress lines (default {LINE_EVERY:.0f})")
    p = command("doctor", cmd_doctor, "read Azure, say per machine whether it can send its logs and the fix; "
                "exit 0 all can, 4 any can't")
    p.add_argument("--json", action="store_true", help=f"machine-readable verdicts (format_version {FORMAT_VERSION})")
    p = command("mcp", cmd_mcp, "serve the logs to LLM agents (Model Context Protocol), read-only, until interrupted")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio",
                   help="stdio (default): for a client that starts the server; http: Streamable HTTP on "
                   "MCP_ADDRESS:MCP_PORT/mcp, with Entra ID tokens (MCP_AUTH)")
    p = command("demo", cmd_demo, "a full reconcile against the built-in Azure simulator: no Azure account needed", reads_settings=False)
    p.add_argument("--nodes", type=_at_least(1), default=4, help="nodes per nodearray in the simulated cluster (at least 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    # terraform's scheme has one code for every error; ours tells user errors (2) from Azure's (1).
    error, usage = (TERRAFORM_ERROR, TERRAFORM_ERROR) if "--detailed-exitcode" in argv else (EXIT_FAILED, EXIT_USAGE)
    try:
        args = build_parser().parse_args(argv)
        settings = load_settings() if args.reads_settings else None
        configure_logging(args.verbose, settings.log_format if settings else "text")
        code = args.func(args, settings)
        sys.stdout.flush()  # here, so a closed pipe is caught below rather than at exit
        return code
    except UserError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return usage
    except BrokenPipeError:  # stdout's reader left (`| head`): exit 1 quietly, not with a traceback at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return error
    except AzureError as exc:  # Azure failed in a way no setting can fix: one line, not a traceback
        print(f"error: Azure: {describe(exc)}", file=sys.stderr)
        return error
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
