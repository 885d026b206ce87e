"""collection_status says what `plan` and `doctor` say, in one bounded answer."""

from controller.cli import main
from tests.mcpserver.session import call, server


def test_before_the_controller_ran_the_plan_has_changes_and_nothing_is_sent(sim, azure):
    answer = call(server(), "collection_status")
    assert not answer["converged"] and answer["changes"]
    assert answer["unable_to_send"] == len(answer["machines"]) > 0
    assert all(m["fix"] for m in answer["machines"] if not m["ok"])
    assert answer["source"]["queries"] == 2 and "Heartbeat" in answer["source"]["tables"]
    assert "silent machines can't be told" in answer["warnings"][0]  # no tables yet: the query was refused


def test_after_a_pass_every_machine_sends_but_a_silenced_one(sim, azure, capsys):
    assert main(["run", "--once"]) == 0
    silent = sim.list("Microsoft.Compute/virtualMachineScaleSets/virtualMachines")[0]
    sim.silence(silent["id"], "agent stopped")
    sim.tick(minutes=15)
    sim.reset_calls()
    answer = call(server(), "collection_status")
    assert answer["converged"] and answer["changes"] == [] and "in sync" in answer["plan"].lower()
    not_ok = [m for m in answer["machines"] if not m["ok"]]
    assert [m["machine"] for m in not_ok] == [silent["name"]] and not_ok[0]["causes"] == ["silent"]
    assert answer["machines"][0] == not_ok[0]  # those that can't send come first
    assert sim.writes() == 0  # read-only


def test_the_status_is_bounded(sim, azure):
    answer = call(server(), "collection_status", {"max_bytes": 1024})
    assert answer["truncated"] and "doctor --json" in answer["more"]
