"""The daemon's view of the workspace as metrics: machines silent by role and cause, the age of
each table's newest record, and how seldom it asks (FRESHNESS_INTERVAL)."""

from __future__ import annotations

import argparse
import math

from prometheus_client.parser import text_string_to_metric_families

from controller.cli import WorkspaceCheck, _reconciler, main
from controller.metrics import Metrics
from controller.settings import load_settings
from tests.test_doctor import broken  # noqa: F401  (a fixture: one machine per cause)


def families(path) -> dict[str, dict[tuple, float]]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        out[family.name] = {tuple(sorted(s.labels.items())): s.value for s in family.samples}
    return out


def silent_by(metrics) -> dict[tuple[str, str], float]:
    return {(dict(k)["role"], dict(k)["cause"]): v for k, v in metrics["slurm_log_controller_machines_silent"].items() if v}


def test_silent_machines_by_cause_and_the_age_of_each_table(azure, sim, broken, tmp_path, capsys):  # noqa: F811
    path = tmp_path / "metrics.prom"
    assert main(["run", "--once"]) == 0
    quiet = sim.vmss_members(sim.cluster.vmss_ids["htc"])[0]
    sim.silence(quiet, "the VM is stopped")
    sim.tick(15)
    assert main(["run", "--once", "--metrics-file", str(path)]) == 0
    capsys.readouterr()
    metrics = families(path)
    # No agent, an unapplied model, an unnamed identity: nothing arrives, and the cause is ARM's.
    # Arm64: the agent heartbeats, it just collects no text logs. Set up right yet quiet: silent.
    assert silent_by(metrics) == {
        ("nodes", "no_agent"): 1, ("nodes", "model_not_applied"): 2, ("nodes", "identity_not_named"): 1,
        ("nodes", "silent"): 1,
    }
    assert len(metrics["slurm_log_controller_machines_silent"]) == 3 * 9  # every role and cause, always
    ages = {dict(k)["table"]: v for k, v in metrics["slurm_log_controller_table_last_record_age_seconds"].items()}
    assert 0 <= ages["slurmctld_raw_CL"] < 120 and 0 <= ages["syslog_raw_CL"] < 120
    assert metrics["slurm_log_controller_workspace_check_timestamp_seconds"][()] > 0


def test_the_daemon_asks_the_workspace_once_per_interval(azure, sim, monkeypatch):
    monkeypatch.setenv("FRESHNESS_INTERVAL", "300")
    assert main(["run", "--once"]) == 0
    reconciler = _reconciler(argparse.Namespace(config=None), load_settings())
    reconciler.plan()  # the daemon checks after a pass, which has read the workspace
    now = [1000.0]
    check = WorkspaceCheck(Metrics(30), reconciler, clock=lambda: now[0])
    sim.queries.clear()
    for step in (0, 60, 239, 1):  # at 1000, 1060, 1299, 1300
        now[0] += step
        check.after([])
    assert len(sim.queries) == 4  # 2 at 1000, 2 at 1300


def test_freshness_interval_zero_never_asks(azure, sim, monkeypatch, tmp_path):
    monkeypatch.setenv("FRESHNESS_INTERVAL", "0")
    sim.queries.clear()
    assert main(["run", "--once", "--metrics-file", str(tmp_path / "m.prom")]) == 0
    assert sim.queries == []


def test_a_table_with_no_record_in_the_lookback_is_infinitely_old_and_no_answer_keeps_the_last(tmp_path):
    from datetime import datetime, timezone

    from controller.doctor.freshness import Freshness
    from controller.doctor.workspace import Judged

    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    metrics = Metrics(30)
    fresh = Freshness(now=now, tables=("a_raw_CL", "b_raw_CL"),
                      records={("node1", "a_raw_CL"): datetime(2026, 12, 1, 11, 59, tzinfo=timezone.utc)})
    metrics.record_workspace(Judged([], fresh))
    metrics.record_workspace(Judged([], None, warning="403"))  # unanswered: changes nothing
    path = tmp_path / "m.prom"
    metrics.write_textfile(str(path))
    ages = {dict(k)["table"]: v for k, v in families(path)["slurm_log_controller_table_last_record_age_seconds"].items()}
    assert ages["a_raw_CL"] == 60 and math.isinf(ages["b_raw_CL"])
