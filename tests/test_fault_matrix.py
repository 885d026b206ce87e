"""The fault matrix (benchmarks/reliability/faults.py), each scenario through the CLI against the
simulator: no crash, no duplicate, no write to what isn't ours, the fault shown in the output and
the metrics, and in sync within the passes the scenario promises once the fault stops."""

from __future__ import annotations

import pytest

from benchmarks.reliability.faults import LOGS, SCENARIOS, run_scenario
from benchmarks.reliability.world import FOREIGN_RULE, serving


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_fault(scenario, tmp_path):
    if scenario.api == LOGS:
        pytest.importorskip("duckdb_kql")
    with serving() as sim:
        foreign = sim.get(FOREIGN_RULE)
        outcome = run_scenario(sim, scenario, str(tmp_path / "metrics.prom"))
        assert outcome.problems == [], outcome.during.text[-3000:]
        assert sim.get(FOREIGN_RULE) == foreign
