"""Prometheus metrics, and the /metrics /healthz /readyz endpoints of the daemon.

Label sets are stable: every value of a state label is exported at all times (as 0 when nothing
is in that state), so no series goes stale when a state empties.
"""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, write_to_textfile
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from . import __version__
from .errors import UserError
from .apply import APPLIED, FAILED, SKIPPED, ChangeResult
from .plan import CREATE, DELETE, KINDS, UPDATE
from .doctor.preflight import CAUSES, SETUP_CAUSES, SILENT, Verdict
from .doctor.workspace import Judged
from .report import ROLES, STATES, Report

log = logging.getLogger(__name__)
PREFIX = "slurm_log_controller"
CHECK_RESULTS = ("success", "partial", "failure")
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)


def operation_of(method: str, url: str) -> str:
    """`dataCollectionRules.put`, `workspaces.tables.get`: the resource types after the last
    `providers/<namespace>`, so the label has a handful of values, never one per resource."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    lowered = [s.lower() for s in segments]
    start = len(lowered) - 1 - lowered[::-1].index("providers") + 2 if "providers" in lowered else 0
    return ".".join(segments[start::2] + [method.lower()])


class Metrics:
    def __init__(self, interval: float, registry: CollectorRegistry | None = None):
        r = self.registry = registry or CollectorRegistry()
        self.resources = Gauge(f"{PREFIX}_resources", "Managed resources by kind and state after the last pass", ["kind", "state"], registry=r)
        self.nodes = Gauge(f"{PREFIX}_nodes", "Machines (Uniform instances counted each) by role, with all their DCR associations in place or not; associations only, not whether the machine sends (see machines_unable_to_send)", ["role", "covered"], registry=r)
        self.unable = Gauge(f"{PREFIX}_machines_unable_to_send", "Machines with logs to send that can't, by role and the first cause the preflight found (agent, identity, model, architecture, associations)", ["role", "cause"], registry=r)
        self.silent = Gauge(f"{PREFIX}_machines_silent", "Machines whose agent sent no Heartbeat for 10 minutes, by role and the first cause the preflight found (silent: set up right, yet nothing arrives); from the last workspace check", ["role", "cause"], registry=r)
        self.record_age = Gauge(f"{PREFIX}_table_last_record_age_seconds", "Seconds from the newest record in each of our tables (any machine) to the last workspace check; +Inf: none in the last day", ["table"], registry=r)
        self.workspace_checks = Counter(f"{PREFIX}_workspace_checks", "Workspace checks (2 Logs queries) by result: answered in full, in part, or not at all (throttled, refused, timed out)", ["result"], registry=r)
        self.workspace_checked = Gauge(f"{PREFIX}_workspace_check_timestamp_seconds", "Unix time of the last workspace check that was answered, in full or in part (0: none yet)", registry=r)
        self.node_coverage = Histogram(f"{PREFIX}_node_coverage_seconds", "Seconds from a machine first seen without its associations to covered", buckets=DURATION_BUCKETS, registry=r)
        self.duration = Histogram(f"{PREFIX}_reconcile_duration_seconds", "Duration of reconcile passes", buckets=DURATION_BUCKETS, registry=r)
        self.passes = Counter(f"{PREFIX}_reconcile_passes", "Reconcile passes by result", ["result"], registry=r)
        self.last_success = Gauge(f"{PREFIX}_last_success_timestamp_seconds", "Unix time of the last successful pass (0: none yet)", registry=r)
        self.failures = Gauge(f"{PREFIX}_consecutive_failures", "Failed passes in a row", registry=r)
        self.interval = Gauge(f"{PREFIX}_reconcile_interval_seconds", "Configured seconds between passes", registry=r)
        self.requests = Counter(f"{PREFIX}_arm_requests", "Azure Resource Manager requests by operation and status class", ["operation", "status_class"], registry=r)
        self.throttled = Counter(f"{PREFIX}_arm_throttled", "ARM responses 429 (throttled)", registry=r)
        self.changes = Counter(f"{PREFIX}_changes", "Changes by kind, action and result", ["kind", "action", "result"], registry=r)
        build = Gauge(f"{PREFIX}_build_info", "Version of the controller", ["version"], registry=r)
        build.labels(__version__).set(1)
        self.interval.set(interval)
        for kind in KINDS:
            for state in STATES:
                self.resources.labels(kind, state)
            for action in (CREATE, UPDATE, DELETE):
                for result in (APPLIED, SKIPPED, FAILED):
                    self.changes.labels(kind, action, result)
        for role in ROLES:
            for covered in ("true", "false"):
                self.nodes.labels(role, covered)
            for cause in SETUP_CAUSES:
                self.unable.labels(role, cause)
            for cause in CAUSES:
                self.silent.labels(role, cause)
        for result in ("success", "failure"):
            self.passes.labels(result)
        for result in CHECK_RESULTS:
            self.workspace_checks.labels(result)
        self._first_seen: dict[str, float] = {}  # only the loop's thread records passes
        self.last_progress = time.time()  # a pass started or ended, or a change finished
        self.ready = False

    # --- fed by the Azure SDK pipeline, the apply step and the loop ---
    def record_response(self, pipeline_response) -> None:
        """azure-core raw_response_hook: sees every attempt, retries included."""
        request, status = pipeline_response.http_request, pipeline_response.http_response.status_code
        self.requests.labels(operation_of(request.method, request.url), f"{status // 100}xx").inc()
        if status == 429:
            self.throttled.inc()

    def record_change(self, result: ChangeResult) -> None:
        self.changes.labels(result.change.kind, result.change.action, result.outcome).inc()
        self.last_progress = time.time()

    def pass_started(self) -> None:
        self.last_progress = time.time()

    def record_pass(self, report: Report | None, started: float, ok: bool) -> None:
        now = time.time()
        self.duration.observe(now - started)
        self.passes.labels("success" if ok else "failure").inc()
        self.last_progress = now
        if ok:
            self.last_success.set(now)
            self.failures.set(0)
        else:
            self.failures.inc()
        if report is None:
            return
        self.ready = True
        for (kind, state), n in report.resources.items():
            self.resources.labels(kind, state).set(n)
        for (role, covered), n in report.nodes.items():
            self.nodes.labels(role, str(covered).lower()).set(n)
        # A machine missing associations is first seen when a pass starts to add them; it is
        # covered when they are all in place. Machines that leave uncovered are forgotten.
        for machine in report.reached | report.uncovered:
            self._first_seen.setdefault(machine, started)
        for machine in list(self._first_seen):
            if machine not in report.uncovered:
                if machine in report.reached:
                    self.node_coverage.observe(now - self._first_seen[machine])
                del self._first_seen[machine]

    def record_preflight(self, verdicts: list[Verdict]) -> None:
        counts = {(role, cause): 0 for role in ROLES for cause in SETUP_CAUSES}
        for v in verdicts:
            if not v.ok:
                counts[(v.machine.role, v.cause)] = counts.get((v.machine.role, v.cause), 0) + 1
        for (role, cause), n in counts.items():
            self.unable.labels(role, cause).set(n)

    def record_workspace(self, judged: Judged) -> None:
        """A check the workspace didn't answer changes nothing: the last answer stands (its time says
        how old it is), rather than every machine turning silent."""
        fresh = judged.freshness
        self.workspace_checks.labels("failure" if fresh is None else "partial" if fresh.partial else "success").inc()
        if fresh is None:
            return
        counts = {(role, cause): 0 for role in ROLES for cause in CAUSES}
        for v in judged.verdicts:
            if v.seen and v.seen.silent:
                key = (v.machine.role, v.cause or SILENT)
                counts[key] = counts.get(key, 0) + 1
        for (role, cause), n in counts.items():
            self.silent.labels(role, cause).set(n)
        for table in fresh.tables:
            age = fresh.seconds_since_last_record(table)
            self.record_age.labels(table).set(float("inf") if age is None else age)
        self.workspace_checked.set(fresh.now.timestamp())

    def write_textfile(self, path: str) -> None:
        """node_exporter's textfile collector format (written atomically)."""
        write_to_textfile(path, self.registry)


class HealthServer:
    """/metrics, /healthz (fails when the loop has made no progress for `stale_after` seconds: a
    stuck loop must be restarted, not just a dead process) and /readyz (after the first observe)."""

    def __init__(self, metrics: Metrics, address: str, port: int, stale_after: float):
        metrics_ = metrics

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = urlsplit(self.path).path
                if path == "/metrics":
                    self._send(200, generate_latest(metrics_.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    age = time.time() - metrics_.last_progress
                    ok = age < stale_after
                    self._send(200 if ok else 503, f"{'ok' if ok else 'stuck'}: last progress {age:.0f} s ago\n".encode())
                elif path == "/readyz":
                    self._send(200 if metrics_.ready else 503, b"ready\n" if metrics_.ready else b"not observed yet\n")
                else:
                    self._send(404, b"not found: /metrics /healthz /readyz\n")

            def _send(self, status, body, content_type="text/plain; charset=utf-8"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # scrapes every few seconds would flood the journal
                pass

        try:
            self.server = ThreadingHTTPServer((address, port), Handler)
        except OSError as exc:
            raise UserError(
                f"METRICS_ADDRESS/METRICS_PORT {address}:{port}: {exc.strerror}: pick another port, or 0 to turn the endpoints off"
            ) from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
