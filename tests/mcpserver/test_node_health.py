"""node_health: the agent's heartbeat and each table's freshness (doctor's 2 queries), drains and
errors (1 more), bounded. The slurmctld lines are Slurm 22.05's words for `scontrol update
nodename=... state=drain reason=...` and for a node that stops answering (node_mgr.c, ping_nodes.c)."""

import datetime as _dt

from controller.cli import main
from tests.mcpserver.session import call, server
from tests.mcpserver.workspace_fill import feed


def stamp(sim, minutes_ago):
    return (sim.clock() - _dt.timedelta(minutes=minutes_ago)).strftime("[%Y-%m-%dT%H:%M:%S.000]")


def nodes(sim):
    return sim.list("Microsoft.Compute/virtualMachineScaleSets/virtualMachines")


def test_a_node_that_sends_with_its_drain_and_errors(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    sim.tick(minutes=3)
    node, other = nodes(sim)[:2]
    name, other_name = (m["properties"]["osProfile"]["computerName"] for m in (node, other))
    feed(sim, {
        sim.cluster.scheduler_vm_id: {"/var/log/slurmctld/slurmctld.log": [
            f"{stamp(sim, 30)} update_node: node {name} reason set to: bad DIMM",
            f"{stamp(sim, 30)} update_node: node {name} state set to DRAINING",
            f"{stamp(sim, 20)} error: Nodes {other_name} not responding",
        ]},
        node["id"]: {"/var/log/slurmd/slurmd.log": [
            f"{stamp(sim, 25)} error: Unable to register: Zero Bytes were transmitted or received",
            f"{stamp(sim, 24)} debug:  not an error",
        ]},
        other["id"]: {"/var/log/slurmd/slurmd.log": [f"{stamp(sim, 25)} error: another node's error"]},
    })
    answer = call(server(), "node_health", {"node": name})
    assert answer["agent"] == "sending" and answer["last_heartbeat"]
    coverage = {c["table"]: c["last_record"] for c in answer["coverage"]}
    assert coverage["slurmd_CL"] and coverage["slurmctld_CL"] is None  # the scheduler's table, not a node's
    assert [d["message"] for d in answer["drains"]] == [f"update_node: node {name} reason set to: bad DIMM",
                                                        f"update_node: node {name} state set to DRAINING"]
    assert [e["message"] for e in answer["errors"]] == ["Unable to register: Zero Bytes were transmitted or received"]
    assert answer["source"]["queries"] == 3 and not answer["truncated"]


def test_a_silent_node_and_one_never_seen(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    node, real = nodes(sim)[0], sim.clock
    sim.clock = lambda: real() - _dt.timedelta(minutes=20)
    sim.tick(minutes=1)
    sim.clock = real
    sim.silence(node["id"], "agent stopped")
    sim.tick(minutes=1)
    mcp = server()
    name = node["properties"]["osProfile"]["computerName"]
    assert call(mcp, "node_health", {"node": name})["agent"] == "silent"
    assert call(mcp, "node_health", {"node": nodes(sim)[1]["properties"]["osProfile"]["computerName"]})["agent"] == "sending"
    assert call(mcp, "node_health", {"node": "no-such-node"})["agent"] == "never seen"
