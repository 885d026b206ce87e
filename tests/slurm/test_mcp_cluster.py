"""The MCP server's answers about jobs that really ran: a Slurm cluster (the job archive's test
cluster, with memory enforced) runs jobs that succeed, exit non-zero, are cancelled, hit their
time limit, exceed their memory and call a missing command; its slurmctld and slurmd logs and
the job archive go into the simulated workspace (tests/mcpserver/workspace_fill.py), and an MCP
client session asks the server why each job ended.

Memory: `JobAcctGatherType=jobacct_gather/linux` with `JobAcctGatherParams=OverMemoryKill`
polls each step's RSS every second and kills a step over its `--mem`; no cgroup is needed, so it
works in a container (there is no kernel oom-kill here: that rule is tested on the kernel's
wording in tests/mcpserver/test_classify.py). The time limit is Slurm's smallest, one minute.
"""

import os
import time

import pytest

from tests.mcpserver.session import call, server
from tests.mcpserver.workspace_fill import feed
from tests.slurm.test_job_archive_cluster import USER, start_cluster

NODE = "slurm1-hp000000"  # the simulated cluster's first hpc instance: Slurm's node names are host names
ARCHIVE = "/shared/slurm-logs"
SCRIPTS = {
    "ok": "#!/bin/sh\necho \"hello from $SLURM_JOB_ID\"\n",
    "fail": "#!/bin/sh\necho starting\necho \"fatal: something failed\" >&2\nexit 3\n",
    "sleep": "#!/bin/sh\necho \"before the end\"\nsleep 300\n",
    "oom": "#!/bin/sh\necho allocating\npython3 -c \"import time; b = b'x' * (300 * 1024 * 1024); time.sleep(20)\"\n",
    "missing": "#!/bin/sh\necho starting\nno_such_command_xyz --version\n",
}
MEMORY = {"JobAcctGatherType": "jobacct_gather/linux", "JobAcctGatherParams": "OverMemoryKill",
          "JobAcctGatherFrequency": "task=1", "SelectTypeParameters": "CR_Core_Memory", "DefMemPerCPU": "100"}


@pytest.fixture(scope="module")
def ran():
    """Every job run once: {name: job id}, and the cluster's logs and archive files."""
    for c in start_cluster("flat", MEMORY, NODE):
        for name, text in SCRIPTS.items():
            path = c.work / (name + ".sh")
            path.write_text(text)
            os.chown(path, c.uid, c.gid)
        c.archive.mkdir(mode=0o711)
        ids = {
            "timeout": c.sbatch("--time=1", "-o", "timeout_%j.out", "sleep.sh"),
            "cancel": c.sbatch("-o", "cancel_%j.out", "sleep.sh"),
            "ok": c.sbatch("-o", "ok_%j.out", "ok.sh"),
            "fail": c.sbatch("-o", "fail_%j.out", "-e", "fail_%j.err", "fail.sh"),
            "oom": c.sbatch("--mem=50M", "-o", "oom_%j.out", "oom.sh"),
            "missing": c.sbatch("-o", "missing_%j.out", "missing.sh"),
        }
        deadline = time.monotonic() + 30
        while c.job_state(ids["cancel"]) != "RUNNING":
            assert time.monotonic() < deadline, "the job to cancel never ran"
            time.sleep(0.2)
        time.sleep(1)
        c.as_user("scancel", ids["cancel"])
        c.wait_done(list(ids.values()), timeout=180)
        time.sleep(1)  # the last epilog's archive files
        files = {p.name: p.read_text(errors="replace").splitlines() for p in c.archive.iterdir() if p.is_file()}
        logs = {name: (c.tmp / "log" / name).read_text().splitlines() for name in ("slurmctld.log", "slurmd.log")}
        yield {"ids": {k: int(v) for k, v in ids.items()}, "archive": files, "logs": logs, "uid": c.uid}


@pytest.fixture
def mcp(ran, sim, azure):
    hpc = sim.list("Microsoft.Compute/virtualMachineScaleSets/virtualMachines")
    node = next(m["id"] for m in hpc if m["properties"]["osProfile"]["computerName"] == NODE)
    feed(sim, {
        sim.cluster.scheduler_vm_id: {
            "/var/log/slurmctld/slurmctld.log": ran["logs"]["slurmctld.log"],
            **{f"{ARCHIVE}/{name}": lines for name, lines in ran["archive"].items()},
        },
        node: {"/var/log/slurmd/slurmd.log": ran["logs"]["slurmd.log"]},
    })
    return server()


def story(mcp, ran, name):
    answer = call(mcp, "job_story", {"job_id": ran["ids"][name]})
    assert isinstance(answer, dict), answer
    assert answer["found"] and answer["source"]["queries"] <= 3
    return answer


def cited(answer):
    return [e["line"]["message"] for e in answer["classification"]["evidence"]]


def test_a_job_that_succeeds(mcp, ran):
    answer = story(mcp, ran, "ok")
    assert answer["classification"]["category"] == "completed"
    assert (answer["state"], answer["exit_code"], answer["nodes"], answer["user"]) == ("COMPLETED", 0, [NODE], USER)
    assert answer["stdout_tail"] == [f"hello from {ran['ids']['ok']}"]
    assert answer["script"][-1] == 'echo "hello from $SLURM_JOB_ID"'
    assert answer["started"] <= answer["ended"]


def test_a_job_that_exits_non_zero(mcp, ran):
    answer = story(mcp, ran, "fail")
    job = ran["ids"]["fail"]
    assert answer["classification"]["category"] == "non_zero_exit"
    assert (answer["state"], answer["exit_code"]) == ("FAILED", 3)
    assert cited(answer) == [f"_job_complete: JobId={job} WEXITSTATUS 3"]
    assert answer["stderr_tail"] == ["fatal: something failed"]


def test_a_cancelled_job_names_who_cancelled_it(mcp, ran):
    answer = story(mcp, ran, "cancel")
    job = ran["ids"]["cancel"]
    assert answer["classification"]["category"] == "cancelled"
    assert answer["state"] == "CANCELLED"
    assert f"by the job's own user {USER} (uid {ran['uid']})" in answer["reason"]
    lines = cited(answer)
    assert f"_slurm_rpc_kill_job: REQUEST_KILL_JOB JobId={job} uid {ran['uid']}" in lines
    assert any(line.startswith(f"*** JOB {job} ON {NODE} CANCELLED AT ") for line in lines)


def test_a_job_that_hits_its_time_limit(mcp, ran):
    answer = story(mcp, ran, "timeout")
    job = ran["ids"]["timeout"]
    assert answer["classification"]["category"] == "time_limit"
    assert answer["state"] == "TIMEOUT"
    lines = cited(answer)
    assert f"Time limit exhausted for JobId={job}" in lines
    assert any(line.startswith(f"*** JOB {job} ON {NODE} CANCELLED AT ") and line.endswith("DUE TO TIME LIMIT ***")
               for line in lines)


def test_a_job_over_its_memory_limit(mcp, ran):
    answer = story(mcp, ran, "oom")
    job = ran["ids"]["oom"]
    assert answer["classification"]["category"] == "out_of_memory", answer["classification"]
    assert answer["state"] == "OUT_OF_MEMORY"
    assert any(f"StepId={job}.batch exceeded memory limit" in line and line.endswith("being killed")
               for line in cited(answer))


def test_a_job_that_calls_a_missing_command(mcp, ran):
    answer = story(mcp, ran, "missing")
    assert answer["classification"]["category"] == "command_not_found"
    assert answer["exit_code"] == 127
    assert any("no_such_command_xyz: not found" in line for line in cited(answer))


def test_failed_jobs_lists_each_failure_once(mcp, ran):
    answer = call(mcp, "failed_jobs", {"hours": 2})
    states = {j["job_id"]: j["state"] for j in answer["jobs"]}
    ids = ran["ids"]
    # from slurmctld's lines only: the memory kill is a SIGKILL there (job_story has the why)
    assert states == {ids["fail"]: "FAILED", ids["cancel"]: "CANCELLED", ids["timeout"]: "TIMEOUT",
                      ids["oom"]: "FAILED", ids["missing"]: "FAILED"}
    assert answer["source"]["queries"] == 1
