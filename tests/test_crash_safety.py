"""SIGKILL the daemon at 20 seeded points of a cold start (writes in flight, table creations
pending), restart it each time: the same final state as a run never killed, no orphan, no
duplicate, no write to what isn't ours (benchmarks/reliability/crash.py)."""

from __future__ import annotations

from benchmarks.reliability.crash import crash_runs

KILLS = 20


def test_twenty_kills_in_cold_starts_end_as_an_uninterrupted_run():
    runs = crash_runs(KILLS, seed=0)
    kills = [kill for run in runs for kill in run.kills]
    assert len(kills) >= KILLS
    for run in runs:
        assert run.problems == [], run.log_tail
    # the points are where it hurts: each kind of write, landed and lost, with table creations pending
    assert {k.operation for k in kills} >= {"Tables_CreateOrUpdate", "DataCollectionRules_Create",
                                             "DataCollectionRuleAssociations_Create"}
    assert {k.point.landed for k in kills} == {True, False}
    assert any(k.tables_pending for k in kills)


def test_kills_in_a_remediation_run_end_as_an_uninterrupted_one():
    from benchmarks.reliability.crash import REMEDIATION

    runs = crash_runs(8, seed=1, workload=REMEDIATION)
    kills = [kill for run in runs for kill in run.kills]
    assert len(kills) >= 8
    for run in runs:
        assert run.problems == [], run.log_tail
    remediation = {"VirtualMachineExtensions_CreateOrUpdate", "VirtualMachineScaleSetExtensions_CreateOrUpdate",
                   "VirtualMachineScaleSets_UpdateInstances", "OperationStatuses_Get", "OperationResults_Get"}
    assert {k.operation for k in kills} <= remediation and len({k.operation for k in kills}) >= 2, kills
