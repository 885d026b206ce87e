"""Metrics, health endpoints and the textfile: the exact series move with drift, and back."""

from __future__ import annotations

import socket
import time
import urllib.request
from urllib.error import HTTPError

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.cli import main
from controller.metrics import HealthServer, Metrics, operation_of
from controller.simulator import SimResponse
from tests.test_daemon import daemon, expected, wait_for  # noqa: F401  (fixture)

P = "https://127.0.0.1:1/subscriptions/0/resourceGroups/rg/providers"


@pytest.mark.parametrize("method, url, operation", [
    ("PUT", f"{P}/Microsoft.Insights/dataCollectionRules/x?api-version=1", "dataCollectionRules.put"),
    ("GET", f"{P}/Microsoft.Insights/dataCollectionRules/x/associations", "dataCollectionRules.associations.get"),
    ("PUT", f"{P}/Microsoft.Compute/virtualMachines/vm/providers/Microsoft.Insights/dataCollectionRuleAssociations/a", "dataCollectionRuleAssociations.put"),
    ("GET", f"{P}/Microsoft.OperationalInsights/workspaces/ws/tables", "workspaces.tables.get"),
    ("GET", f"{P}/Microsoft.Compute/virtualMachines", "virtualMachines.get"),
])
def test_operation_label_has_few_values(method, url, operation):
    assert operation_of(method, url) == operation


def samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: dict, name: str, **labels) -> float:
    return metrics[(name, tuple(sorted(labels.items())))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except HTTPError as e:
        return e.code, e.read().decode()


def test_states_are_exported_with_stable_labels_before_anything_happens():
    m = samples(__import__("prometheus_client").generate_latest(Metrics(30).registry).decode())
    for kind in ("table", "dcr", "association"):
        for state in ("in_sync", "missing", "drifted", "orphaned"):
            assert value(m, "slurm_log_controller_resources", kind=kind, state=state) == 0
    for role in ("scheduler", "nodes"):
        for covered in ("true", "false"):
            assert value(m, "slurm_log_controller_nodes", role=role, covered=covered) == 0
    assert value(m, "slurm_log_controller_build_info", version=__import__("controller").__version__) == 1
    assert value(m, "slurm_log_controller_reconcile_interval_seconds") == 30
    assert value(m, "slurm_log_controller_changes_total", kind="dcr", action="update", result="failed") == 0


def test_healthz_fails_when_the_loop_is_stuck_and_readyz_waits_for_an_observe():
    metrics = Metrics(1)
    server = HealthServer(metrics, "127.0.0.1", 0, stale_after=5).start()
    try:
        assert get(server.port, "/healthz")[0] == 200
        assert get(server.port, "/readyz")[0] == 503
        metrics.last_progress -= 6
        status, body = get(server.port, "/healthz")
        assert status == 503 and "stuck" in body
        assert get(server.port, "/nope")[0] == 404
    finally:
        server.stop()


def test_daemon_metrics_follow_drift_and_recovery(sim, daemon):  # noqa: F811
    port = free_port()
    proc = daemon(METRICS_PORT=str(port))
    scrape = lambda: samples(get(port, "/metrics")[1])  # noqa: E731
    converged = lambda: value(scrape(), "slurm_log_controller_resources", kind="association", state="in_sync") == expected(sim)  # noqa: E731
    wait_for(lambda: get_or_none(port) and converged(), timeout=30)
    m = scrape()
    assert get(port, "/readyz")[0] == 200 and get(port, "/healthz")[0] == 200
    assert value(m, "slurm_log_controller_nodes", role="nodes", covered="true") == 3 + 2  # 3 Uniform instances, 2 Flexible VMs
    assert value(m, "slurm_log_controller_nodes", role="scheduler", covered="true") == 1
    assert value(m, "slurm_log_controller_nodes", role="nodes", covered="false") == 0
    assert value(m, "slurm_log_controller_resources", kind="table", state="in_sync") == 20  # raw and parsed
    assert value(m, "slurm_log_controller_changes_total", kind="association", action="create", result="applied") == expected(sim)
    assert value(m, "slurm_log_controller_last_success_timestamp_seconds") > time.time() - 30
    assert value(m, "slurm_log_controller_arm_requests_total", operation="dataCollectionRules.put", status_class="2xx") == 10
    coverage_before = value(m, "slurm_log_controller_node_coverage_seconds_count")

    # Drift that persists: a new Flexible VM whose associations Azure keeps refusing.
    def refuse_new_vm(request):
        if new_vm.lower() in request.path.lower():
            return SimResponse(400, {"error": {"code": "InvalidPayload", "message": "refused for the test"}})
        return None

    new_vm = "pending"
    sim.hook("DataCollectionRuleAssociations_Create", refuse_new_vm)
    (new_vm,) = sim.scale(sim.cluster.vmss_ids["htc"], 3)
    wait_for(lambda: value(scrape(), "slurm_log_controller_nodes", role="nodes", covered="false") == 1, timeout=10)
    m = scrape()
    assert value(m, "slurm_log_controller_resources", kind="association", state="missing") == 5
    assert value(m, "slurm_log_controller_nodes", role="nodes", covered="true") == 5
    assert value(m, "slurm_log_controller_changes_total", kind="association", action="create", result="failed") >= 5
    assert value(m, "slurm_log_controller_arm_requests_total", operation="dataCollectionRuleAssociations.put", status_class="4xx") >= 5
    assert value(m, "slurm_log_controller_consecutive_failures") >= 1

    # ... and back when it heals
    sim.clear_hooks()
    wait_for(lambda: value(scrape(), "slurm_log_controller_nodes", role="nodes", covered="false") == 0, timeout=10)
    m = scrape()
    assert value(m, "slurm_log_controller_resources", kind="association", state="missing") == 0
    assert value(m, "slurm_log_controller_nodes", role="nodes", covered="true") == 6
    assert value(m, "slurm_log_controller_consecutive_failures") == 0
    assert value(m, "slurm_log_controller_node_coverage_seconds_count") == coverage_before + 1
    assert value(m, "slurm_log_controller_reconcile_passes_total", result="failure") >= 1

    # Throttling shows up as such.
    sim.inject("DataCollectionRules_ListByResourceGroup", status=429, times=1, retry_after=1)
    wait_for(lambda: value(scrape(), "slurm_log_controller_arm_throttled_total") == 1, timeout=10)
    proc.send_signal(__import__("signal").SIGTERM)
    assert proc.wait(timeout=10) == 0


def get_or_none(port: int):
    try:
        return get(port, "/metrics")[0] == 200
    except OSError:
        return False


def test_run_once_writes_the_textfile(sim, azure, tmp_path, capsys):
    path = tmp_path / "slurm_log_controller.prom"
    assert main(["run", "--once", "--metrics-file", str(path)]) == 0
    m = samples(path.read_text())
    assert value(m, "slurm_log_controller_resources", kind="dcr", state="in_sync") == 10
    assert value(m, "slurm_log_controller_reconcile_passes_total", result="success") == 1
    assert "0 resources out of sync; 6/6 machines covered" in capsys.readouterr().out  # 1 + 3 Uniform + 2 Flexible
