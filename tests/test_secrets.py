"""No secret leaves: the tokens the credential got, the managed-identity secret it sent
(X-IDENTITY-HEADER), and a secret value that reached the workspace's rows never appear in what the
controller prints (logs in both LOG_FORMATs at -v and -vv, plans, doctor) or exports (metrics),
whether it succeeds or fails."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from controller.cli import main
from tests.support import RG, SUB

WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.OperationalInsights/workspaces/logs"
ARCHIVED_SECRET = "hunter2-db-password-7f3a"  # a job environment's value the archive should have redacted


def leaked(sim, text: str) -> list[str]:
    secrets = [*sim.issued_tokens(), sim.identity_header, ARCHIVED_SECRET]
    return [secret[:12] + "..." for secret in secrets if secret in text]


def said(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_in_logs_plans_metrics_or_doctor(sim, azure, monkeypatch, capsys, tmp_path, log_format):
    pytest.importorskip("duckdb_kql")
    monkeypatch.setenv("LOG_FORMAT", log_format)
    seen = []
    for argv, code in ((["plan", "-vv"], 3), (["plan", "--json", "-v"], 3),
                       (["run", "--once", "-vv", "--metrics-file", str(tmp_path / "m")], 0)):
        assert main(argv) == code
        seen.append(said(capsys))
        seen.append((tmp_path / "m").read_text() if argv[0] == "run" else "")
    sim.tick(5)
    sim.add_log_rows(WORKSPACE, "slurmjobs_raw_CL", [{
        "TimeGenerated": sim.clock(), "RawData": f"DB_PASSWORD={ARCHIVED_SECRET}", "Computer": "slurm1-scheduler",
        "FilePath": "/shared/slurm-logs/job_1.alice.env"}])
    for argv in (["doctor", "-vv"], ["doctor", "--json", "-v"]):
        code = main(argv)
        seen.append(said(capsys))
        assert code == 0, seen[-1][-2000:]
    # failures say what went wrong, not with what
    sim.inject("Workspaces_Get", 401, code="InvalidAuthenticationToken", message="The access token is invalid.")
    assert main(["plan", "-vv"]) == 2
    sim.inject("DataCollectionRules_ListByResourceGroup", 403, code="AuthorizationFailed", message="no")
    assert main(["plan", "-vv"]) == 2
    seen.append(said(capsys))
    text = "\n".join(seen)
    assert len(sim.issued_tokens()) >= 1 and "Authorization" in text  # -vv dumped the headers: redacted
    assert leaked(sim, text) == []


def test_no_secret_in_the_daemons_journal(sim, azure, tmp_path):
    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "controller.cli", "run", "-vv"], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "LOG_FORMAT": "json", "RECONCILE_INTERVAL": "1", "METRICS_PORT": "0"})
        deadline = time.monotonic() + 60
        while "reconcile pass" not in log.read_text() and '"outcome"' not in log.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    text = log.read_text()
    assert sim.issued_tokens() and "request body" in text
    assert leaked(sim, text) == []
