"""The job archive on a real single-node Slurm cluster (Debian slurm-wlm + munge, no systemd).

A session fixture starts munged, slurmctld and slurmd with a throwaway slurm.conf whose Prolog,
Epilog and TaskProlog are the scripts in slurm/, submits every job once as a non-root user, waits
for all of them to finish, and the tests then check the archive. It does so once per archive
layout (SLURM_JOB_ARCHIVE_LAYOUT=flat, the default, and per-user, the seed's). Needs root and
the Slurm binaries: skipped locally without them, but failed when CI=true.
"""

import hashlib
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest

from tests.support import unavailable

SLURM_DIR = pathlib.Path(__file__).resolve().parents[2] / "slurm"

USER = "sjatest"
OTHER_USER = "sjatest2"  # a second user, for the privacy checks
MAX_BYTES = 64 * 1024
DAEMON_MARKER = "SJA_ROOT_DAEMON_ONLY"


def _require_root_and_slurm():
    missing = [b for b in ("slurmctld", "slurmd", "sbatch", "srun", "scontrol", "munged")
               if not (shutil.which(b) or os.path.exists("/usr/sbin/" + b))]
    why = None
    if os.geteuid() != 0:
        why = "needs root"
    elif missing:
        why = "Slurm not installed (apt-get install slurm-wlm munge): missing %s" % missing
    if why:
        unavailable(why)


def test_missing_prerequisites_make_the_tests_unavailable(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _require_root_and_slurm()


def _sh(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, capture_output=True, text=True, **kw)


class Cluster:
    def __init__(self, tmp, layout):
        self.tmp = tmp
        self.layout = layout
        self.conf = tmp / "slurm.conf"
        self.archive = tmp / "archive"
        self.spool = tmp / "job-spool"
        self.work = tmp / "work"
        self.log = tmp / "archive.log"
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                    "SLURM_CONF": str(self.conf)}
        self.started_munged = False
        self.uid = pwd.getpwnam(USER).pw_uid
        self.gid = pwd.getpwnam(USER).pw_gid

    def cmd(self, *args, check=True, env=None):
        return _sh(*args, check=check, env=dict(self.env, **(env or {})))

    def as_user(self, *args, check=True, env=None, user=USER):
        return _sh("runuser", "-u", user, "--", "env", *("%s=%s" % kv for kv in
                   dict(self.env, **(env or {})).items()), *args, check=check, cwd=self.work)

    def archived(self, base, suffix, user=USER):
        """Where the layout puts a file of the job user's (spelled out here, not taken from
        the program, so a change of its naming fails these tests)."""
        if self.layout == "flat":
            return self.archive / ("%s.%s%s" % (base, user, suffix))
        return self.archive / user / ("%s%s" % (base, suffix))

    def sbatch(self, *args, env=None):
        out = self.as_user("sbatch", "--parsable", *args, env=env).stdout.strip()
        return out.split(";")[0]

    def job_state(self, job_id):
        out = self.cmd("scontrol", "show", "job", "-o", job_id, check=False).stdout
        start = out.find("JobId=%s " % job_id)  # -o: one line, unless the name has newlines
        m = re.search(r"\sJobState=(\S+)", out[start:]) if start >= 0 else None
        return m.group(1) if m else "GONE"

    def wait_done(self, job_ids, timeout=60):
        deadline = time.monotonic() + timeout
        pending = set(job_ids)
        while pending:
            for j in list(pending):
                if self.job_state(j) not in ("PENDING", "RUNNING", "COMPLETING",
                                             "CONFIGURING", "SUSPENDED"):
                    pending.discard(j)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise AssertionError("jobs did not finish: %s" % sorted(pending))
            time.sleep(0.1)

    def node_state(self):
        return self.cmd("sinfo", "-h", "-N", "-o", "%T").stdout.strip()


def _change_conf(conf, changes):
    """slurm.conf with ``changes`` (key -> value): a key's line replaced, a new key added before
    the node lines."""
    lines = conf.read_text().splitlines()
    for key, value in changes.items():
        at = next((i for i, line in enumerate(lines) if line.split("=", 1)[0] == key), None)
        if at is None:
            at = next(i for i, line in enumerate(lines) if line.startswith("NodeName="))
            lines.insert(at, "%s=%s" % (key, value))
        else:
            lines[at] = "%s=%s" % (key, value)
    conf.write_text("\n".join(lines) + "\n")


def _write(path, text, mode=0o755):
    path.write_text(text)
    path.chmod(mode)


def _free_ports(n):
    """Ports nothing listens on now, all different: fixed ones collide with another checkout's
    test cluster."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _munge_works():
    try:
        token = subprocess.run(["munge", "-n"], capture_output=True, timeout=5)
        return token.returncode == 0 and subprocess.run(
            ["unmunge"], input=token.stdout, capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _wait_pid_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reap if it is our child (it is not, usually: daemons re-parent)
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def _read_pid(path):
    try:
        return int(pathlib.Path(path).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


@pytest.fixture(scope="session", params=["flat", "per-user"])
def cluster(request):
    yield from start_cluster(request.param)


def start_cluster(layout, conf_changes=None, node_name="localhost"):
    """The running cluster, then its shutdown. ``conf_changes``: slurm.conf keys replaced or
    added (``{"JobAcctGatherType": "jobacct_gather/linux"}``); ``node_name``: its one node's
    NodeName (slurmd runs as that node on localhost)."""
    _require_root_and_slurm()
    for user in (USER, OTHER_USER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            _sh("useradd", "--create-home", "--shell", "/bin/sh", user)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sja-cluster-"))
    tmp.chmod(0o755)
    c = Cluster(tmp, layout)
    for d in ("state", "spool", "log"):
        (tmp / d).mkdir()
    c.work.mkdir()
    os.chown(c.work, c.uid, c.gid)
    _write(tmp / "archive.conf", "\n".join([
        "# test settings for slurm_job_archive.py",
        "SLURM_JOB_ARCHIVE_ROOT=%s" % c.archive,
        "SLURM_JOB_ARCHIVE_LAYOUT=%s" % c.layout,
        "SLURM_JOB_ARCHIVE_SPOOL=%s" % c.spool,
        "SLURM_JOB_ARCHIVE_MAX_BYTES=%d" % MAX_BYTES,
        "SLURM_JOB_ARCHIVE_SLURM_CONF=%s" % c.conf,
        "SLURM_JOB_ARCHIVE_LOG_FILE=%s" % c.log,
        ""]), 0o644)
    # installed copies: the checkout may sit where the job user can't reach (TaskProlog runs
    # as the user)
    bindir = tmp / "bin"
    bindir.mkdir()
    for name in ("slurm_job_archive.py", "task_prolog.sh"):
        shutil.copy(SLURM_DIR / name, bindir / name)
        (bindir / name).chmod(0o755)
    # SJA_HOOK_PYTHON: run the hooks under another interpreter (e.g. an old python3)
    hook = "#!/bin/sh\nexec %s %s --config %s\n" % (
        os.environ.get("SJA_HOOK_PYTHON", "/usr/bin/python3"), bindir / "slurm_job_archive.py",
        tmp / "archive.conf")
    _write(tmp / "prolog", hook)
    _write(tmp / "epilog", hook)
    _write(tmp / "task_prolog", "#!/bin/sh\nexec %s %s\n" % (
        bindir / "task_prolog.sh", tmp / "archive.conf"))
    ctld_port, slurmd_port = _free_ports(2)
    _write(c.conf, """\
ClusterName=sjatest
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=2
SlurmctldPidFile={t}/state/slurmctld.pid
SlurmdPidFile={t}/spool/slurmd.pid
SlurmdSpoolDir={t}/spool
StateSaveLocation={t}/state
SlurmctldLogFile={t}/log/slurmctld.log
SlurmdLogFile={t}/log/slurmd.log
SlurmctldDebug=debug
SlurmdDebug=debug
Prolog={t}/prolog
Epilog={t}/epilog
TaskProlog={t}/task_prolog
NodeName={node} NodeHostname=localhost CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
""".format(t=tmp, cpus=max(2, os.cpu_count() or 2), ctld_port=ctld_port, slurmd_port=slurmd_port, node=node_name), 0o644)
    if conf_changes:
        _change_conf(c.conf, conf_changes)

    munged_pid = None
    try:
        if not _munge_works():
            os.makedirs("/run/munge", exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            os.chmod("/run/munge", 0o755)
            _sh("runuser", "-u", "munge", "--", "/usr/sbin/munged",
                "--pid-file=%s" % "/run/munge/munged.pid")
            c.started_munged = True
            munged_pid = _read_pid("/run/munge/munged.pid")
        daemon_env = dict(c.env, **{DAEMON_MARKER: "root-daemon-environment", "HOME": "/root",
                                    "USER": "root"})
        _sh("slurmctld", "-f", str(c.conf), env=daemon_env)
        _sh("slurmd", "-f", str(c.conf), "-N", node_name, env=daemon_env)
        deadline = time.monotonic() + 30
        while c.node_state() != "idle":
            if time.monotonic() > deadline:
                raise AssertionError("node never became idle: %r\n%s" % (
                    c.node_state(), (tmp / "log" / "slurmd.log").read_text()[-3000:]))
            time.sleep(0.1)
        yield c
    finally:
        subprocess.run(["scontrol", "shutdown"], env=c.env, capture_output=True, timeout=20)
        for pidfile in (tmp / "state" / "slurmctld.pid", tmp / "spool" / "slurmd.pid"):
            pid = _read_pid(pidfile)
            if pid and not _wait_pid_gone(pid, 10):
                os.kill(pid, signal.SIGKILL)
        if c.started_munged and munged_pid:
            os.kill(munged_pid, signal.SIGTERM)
            if not _wait_pid_gone(munged_pid, 5):
                os.kill(munged_pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


SCRIPT_OK = """#!/bin/sh
echo "hello from $SLURM_JOB_ID"
echo "warning on stderr" >&2
"""
SCRIPT_FAIL = """#!/bin/sh
echo "starting"
echo "fatal: something failed" >&2
exit 3
"""
SCRIPT_LARGE = """#!/bin/sh
echo FIRST-LINE
i=0; while [ $i -lt 4000 ]; do echo "line $i 0123456789012345678901234567890123456789012345678901234567890123456789"; i=$((i+1)); done
echo LAST-LINE
"""
SCRIPT_STDOUT_LINK = """#!/bin/sh
echo "secret-free output"
f="linked_$SLURM_JOB_ID.out"; rm -f "$f"; ln -s /etc/shadow "$f"
"""
SCRIPT_DIR_LINK = """#!/bin/sh
echo "output in a directory"
mv d d.old; ln -s /etc d
"""
SCRIPT_ARRAY = """#!/bin/sh
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID"
"""
SCRIPT_FIFO = """#!/bin/sh
echo "soon a FIFO"
f="fifo_$SLURM_JOB_ID.out"; rm -f "$f"; mkfifo "$f"
"""
INJECTED_NAME = "x BatchHost=evil UserId=root(0) BatchFlag=0 ArrayJobId=5 ArrayTaskId=7"
NEWLINE_NAME = "n\n\n   StdOut=/etc/passwd\n   BatchFlag=0\n   UserId=root(0)"
SCRIPT_SLEEP = """#!/bin/sh
echo "before cancel"
sleep 300
"""


@pytest.fixture(scope="session")
def jobs(cluster):
    """Submit every scenario once, wait for all; return {name: job id(s)}."""
    c = cluster
    for name, text in (("ok.sh", SCRIPT_OK), ("fail.sh", SCRIPT_FAIL),
                       ("large.sh", SCRIPT_LARGE), ("link.sh", SCRIPT_STDOUT_LINK),
                       ("dirlink.sh", SCRIPT_DIR_LINK), ("array.sh", SCRIPT_ARRAY),
                       ("sleep.sh", SCRIPT_SLEEP), ("fifo.sh", SCRIPT_FIFO)):
        p = c.work / name
        p.write_text(text)
        os.chown(p, c.uid, c.gid)
    (c.work / "d").mkdir()
    os.chown(c.work / "d", c.uid, c.gid)

    # An archive the user could write until now (per-user: the seed's user-owned folder;
    # flat: a root left open to all) that the user may already have filled with links. Hold
    # a job, plant links under its future names, then release it.
    ids = {}
    c.archive.mkdir()
    if c.layout == "flat":
        c.archive.chmod(0o1777)
    else:
        c.archive.chmod(0o755)
        (c.archive / USER).mkdir()
        os.chown(c.archive / USER, c.uid, c.gid)
    ids["planted"] = c.sbatch("--hold", "-o", "planted_%j.out", "ok.sh")
    j = ids["planted"]
    c.as_user("ln", "-s", "/etc/shadow", str(c.archived("job_%s" % j, ".out")))
    c.as_user("ln", "-s", "/etc/passwd", str(c.archived("job_%s" % j, ".sh")))
    c.as_user("mkdir", str(c.archived("job_%s" % j, ".env")))
    # ... and entries no job will ever replace, for root (or the log agent) to follow later
    c.as_user("ln", "-s", "/etc/shadow", str(c.archived("job_999999", ".out")))
    c.as_user("mkfifo", str(c.archived("job_999998", ".out")))
    c.as_user("ln", str(c.work / "ok.sh"), str(c.archived("job_999997", ".sh")))  # hard link
    c.as_user("mkdir", str(c.archived("job_999996", ".err")))
    c.as_user("ln", "-s", "/etc", str(c.archived("job_999996", ".err") / "etc"))
    c.planted = [c.archived("job_99999%d" % n, s)
                 for n, s in ((9, ".out"), (8, ".out"), (7, ".sh"), (6, ".err"))]
    if c.layout == "flat":  # plain files under names the agent would take for others' files
        for user in ("root", OTHER_USER):
            forged = c.archived("job_999995", ".out", user=user)
            c.as_user("sh", "-c", "echo forged > %s" % forged)
            c.planted.append(forged)
    c.shadow_before = (hashlib.sha256(pathlib.Path("/etc/shadow").read_bytes()).hexdigest(),
                       os.stat("/etc/shadow"))
    c.passwd_before = hashlib.sha256(pathlib.Path("/etc/passwd").read_bytes()).hexdigest()

    user_env = {"SJA_USER_VAR": "exported-before-sbatch"}
    ids["ok"] = c.sbatch("-o", "ok_%j.out", "-e", "ok_%j.err", "ok.sh", env=user_env)
    ids["fail"] = c.sbatch("fail.sh")  # default slurm-%j.out, stdout and stderr together
    ids["large"] = c.sbatch("-o", "large_%j.out", "large.sh")
    ids["secret"] = c.sbatch("-o", "secret_%j.out", "ok.sh", env={
        "DB_PASSWORD": "hunter2-db", "MY_API_TOKEN": "tok-123456", "AZURE_CLIENT_SECRET": "azs",
        "SSH_KEY_PASSPHRASE": "kp", "PLAIN_SETTING": "plain-visible", "DB_PASS": "dbp-1",
        "GH_PAT": "ghp-abc"})  # (SLURM_JWT would switch sbatch to JWT auth)
    ids["stdout_link"] = c.sbatch("-o", "linked_%j.out", "link.sh")
    ids["dir_link"] = c.sbatch("-o", "d/shadow", "dirlink.sh")
    ids["array"] = c.sbatch("-a", "1-3", "-o", "arr_%A_%a.out", "array.sh")
    ids["cancel"] = c.sbatch("-o", "cancel_%j.out", "sleep.sh")
    # a job name is free text: key=value tokens and newlines in it must not steer the epilog
    ids["fifo"] = c.sbatch("-o", "fifo_%j.out", "fifo.sh")
    ids["name_tokens"] = c.sbatch("-J", INJECTED_NAME, "-o", "tokens_%j.out", "ok.sh")
    ids["name_newlines"] = c.sbatch("-J", NEWLINE_NAME, "-o", "newlines_%j.out", "ok.sh")
    c.as_user("scontrol", "release", j)
    srun = subprocess.Popen(
        ["runuser", "-u", USER, "--", "env", "SLURM_CONF=%s" % c.conf,
         "PATH=/usr/bin:/bin", "SJA_SRUN_VAR=interactive-value",
         "srun", "-J", "interactive", "sh", "-c", "echo srun says hi; echo $SLURM_JOB_ID"],
        cwd=c.work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    deadline = time.monotonic() + 30
    while c.job_state(ids["cancel"]) != "RUNNING" or not (
            c.work / ("cancel_%s.out" % ids["cancel"])).exists():
        assert time.monotonic() < deadline, "sleep job never started"
        time.sleep(0.1)
    time.sleep(0.3)
    c.as_user("scancel", ids["cancel"])
    out, err = srun.communicate(timeout=60)
    assert srun.returncode == 0, err
    ids["srun"] = out.strip().splitlines()[-1]
    array_tasks = c.cmd("squeue", "-h", "-r", "-o", "%i %A", "-j", ids["array"],
                        check=False).stdout
    c.wait_done([v for v in ids.values()], timeout=60)
    # array tasks have their own job ids; wait for each of them by the archive they produce
    deadline = time.monotonic() + 30
    while not all(c.archived("job_%s_%d" % (ids["array"], t), ".out").exists()
                  for t in (1, 2, 3)):
        assert time.monotonic() < deadline, "array tasks not archived: %s" % array_tasks
        time.sleep(0.1)
    time.sleep(0.5)  # let the last epilogs finish writing
    return ids


def _archived(c, base, suffix):
    return c.archived(base, suffix)


def _assert_private(c, path):
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), "%s is not a regular file" % path
    assert (st.st_uid, st.st_gid) == (c.uid, c.gid), path
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)


def _log(c):
    return c.log.read_text() if c.log.exists() else ""


def test_successful_job_archives_script_env_out_err(cluster, jobs):
    c, j = cluster, jobs["ok"]
    base = "job_%s" % j
    files = {s: _archived(c, base, s) for s in (".sh", ".env", ".out", ".err")}
    for p in files.values():
        _assert_private(c, p)
    assert files[".sh"].read_text() == SCRIPT_OK
    assert files[".out"].read_text() == "hello from %s\n" % j
    assert files[".err"].read_text() == "warning on stderr\n"
    env = files[".env"].read_text()
    assert "SJA_USER_VAR=exported-before-sbatch\n" in env
    assert "SLURM_JOB_ID=%s\n" % j in env
    assert "USER=%s\n" % USER in env
    # the hooks' own (root) environment never leaks in
    assert DAEMON_MARKER not in env
    assert "HOME=/root" not in env and "USER=root" not in env
    assert "SLURM_SCRIPT_CONTEXT" not in env


ARCHIVE_FILE = r"job_\d+(_\d+)?\.(sh|env|out|err)"


def test_archive_layout_owners_and_modes(cluster, jobs):
    c = cluster
    st = os.stat(c.archive)
    assert (st.st_uid, st.st_gid) == (0, 0)
    if c.layout == "flat":
        # every file directly in the root, which users may traverse but not list
        assert stat.S_IMODE(st.st_mode) == 0o711
        entries = list(c.archive.iterdir())
        name_re = ARCHIVE_FILE.replace(r"\.", r"\.%s\." % re.escape(USER), 1)
    else:
        assert stat.S_IMODE(st.st_mode) == 0o755
        st = os.lstat(c.archive / USER)
        # the seed's user-owned folder was taken back: root-owned, readable by the user's group
        assert stat.S_ISDIR(st.st_mode)
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (0, c.gid, 0o750)
        assert os.listdir(c.archive) == [USER]
        entries = list((c.archive / USER).iterdir())
        name_re = ARCHIVE_FILE
    # nothing planted while the archive was writable is left (links, FIFOs, directories,
    # hard links, others' names), no temp file either: every entry is a private regular file
    # with one name, named as the layout says
    assert len(entries) > 30
    for p in entries:
        _assert_private(c, p)
        assert os.lstat(p).st_nlink == 1, p
        assert re.fullmatch(name_re, p.name), p.name
    if c.layout == "flat":  # the agent's one pattern takes exactly the archive
        assert sorted(c.archive.glob("job_*")) == sorted(entries)
    # the user can read their archive but can't create or swap entries in it
    r = c.as_user("cat", str(_archived(c, "job_%s" % jobs["ok"], ".out")))
    assert r.stdout.startswith("hello from")
    r = c.as_user("ln", "-s", "/etc/shadow", str(_archived(c, "job_999999", ".out")),
                  check=False)
    assert r.returncode != 0
    r = c.as_user("rm", "-f", str(_archived(c, "job_%s" % jobs["ok"], ".out")), check=False)
    assert r.returncode != 0


def test_other_users_can_neither_list_nor_read_nor_plant(cluster, jobs):
    c = cluster
    mine = _archived(c, "job_%s" % jobs["ok"], ".out")
    listed = c.archive if c.layout == "flat" else c.archive / USER

    def other(*args):
        return c.as_user(*args, check=False, user=OTHER_USER)

    assert other("ls", str(listed)).returncode != 0
    r = other("cat", str(mine))
    assert r.returncode != 0 and "Permission denied" in r.stderr
    for user in (OTHER_USER, USER):  # under their own name, or the job user's
        target = c.archived("job_888888", ".out", user=user)
        assert other("sh", "-c", "echo forged > %s" % target).returncode != 0
        assert other("ln", "-s", "/etc/shadow", str(target)).returncode != 0
        assert not os.path.lexists(target)
    # per-user: nor a folder of one's own for <root>/*/* to collect
    assert other("mkdir", str(c.archive / OTHER_USER)).returncode != 0
    if c.layout == "flat":  # the job user can't list the root either, only open by name
        assert c.as_user("ls", str(c.archive), check=False).returncode != 0
        assert c.as_user("mv", str(mine), str(c.archived("job_888887", ".out")),
                         check=False).returncode != 0


def test_failed_job_default_output_one_file(cluster, jobs):
    c, j = cluster, jobs["fail"]
    assert c.job_state(j) == "FAILED"
    out = _archived(c, "job_%s" % j, ".out")
    _assert_private(c, out)
    assert out.read_text() == "starting\nfatal: something failed\n"
    assert not _archived(c, "job_%s" % j, ".err").exists()  # same file: archived once
    assert _archived(c, "job_%s" % j, ".sh").read_text() == SCRIPT_FAIL
    _assert_private(c, _archived(c, "job_%s" % j, ".env"))


def test_cancelled_job_is_archived(cluster, jobs):
    c, j = cluster, jobs["cancel"]
    assert c.job_state(j) == "CANCELLED"
    out = _archived(c, "job_%s" % j, ".out").read_text()
    assert out.startswith("before cancel\n")
    assert "JOB %s ON localhost CANCELLED" % j in out  # slurmstepd's note, on stderr
    assert _archived(c, "job_%s" % j, ".sh").read_text() == SCRIPT_SLEEP


def test_large_output_is_capped_with_marker(cluster, jobs):
    c, j = cluster, jobs["large"]
    original = (c.work / ("large_%s.out" % j)).read_bytes()
    assert len(original) > MAX_BYTES
    out = _archived(c, "job_%s" % j, ".out")
    _assert_private(c, out)
    data = out.read_bytes()
    assert data.startswith(b"FIRST-LINE\n") and data.endswith(b"LAST-LINE\n")
    assert b"[slurm-job-archive: truncated: %d of %d bytes omitted" % (
        len(original) - MAX_BYTES, len(original)) in data
    assert MAX_BYTES < len(data) < MAX_BYTES + 200


def test_secrets_are_redacted(cluster, jobs):
    c, j = cluster, jobs["secret"]
    env = _archived(c, "job_%s" % j, ".env").read_text()
    for name in ("DB_PASSWORD", "MY_API_TOKEN", "AZURE_CLIENT_SECRET", "SSH_KEY_PASSPHRASE",
                 "DB_PASS", "GH_PAT"):
        assert "%s=<redacted>\n" % name in env
    for value in ("hunter2-db", "tok-123456", "=azs", "=kp\n", "dbp-1", "ghp-abc"):
        assert value not in env
    assert "PLAIN_SETTING=plain-visible\n" in env
    # Slurm's own variables stay visible
    slurm_vars = [l for l in env.splitlines() if l.startswith("SLURM_") and
                  not l.startswith("SLURM_JWT=")]
    assert len(slurm_vars) > 10 and not [l for l in slurm_vars if "<redacted>" in l]


def _shadow_leaked(c):
    secret_lines = [l for l in pathlib.Path("/etc/shadow").read_text().splitlines() if l]
    for p in c.archive.rglob("*"):
        if p.is_file() and not p.is_symlink():
            text = p.read_text(errors="replace")
            if any(line in text for line in secret_lines):
                return p
    return None


def test_stdout_replaced_by_symlink_is_not_followed(cluster, jobs):
    c, j = cluster, jobs["stdout_link"]
    assert os.path.islink(c.work / ("linked_%s.out" % j))
    assert not _archived(c, "job_%s" % j, ".out").exists()
    assert _archived(c, "job_%s" % j, ".sh").exists()  # the rest of the job is still archived
    assert "linked_%s.out: symlink refused" % j in _log(c)
    assert _shadow_leaked(c) is None


def test_stdout_directory_swapped_for_symlink_is_not_followed(cluster, jobs):
    c, j = cluster, jobs["dir_link"]
    assert os.path.islink(c.work / "d")
    assert not _archived(c, "job_%s" % j, ".out").exists()
    assert re.search(r"job %s: \S+/d/shadow: (permission denied|not owned by the job user)" % j,
                     _log(c))
    assert _shadow_leaked(c) is None


def test_premade_links_in_archive_are_replaced_not_followed(cluster, jobs):
    c, j = cluster, jobs["planted"]
    digest, st = c.shadow_before
    assert hashlib.sha256(pathlib.Path("/etc/shadow").read_bytes()).hexdigest() == digest
    now = os.stat("/etc/shadow")
    assert (now.st_uid, now.st_gid, now.st_mode) == (st.st_uid, st.st_gid, st.st_mode)
    assert hashlib.sha256(pathlib.Path("/etc/passwd").read_bytes()).hexdigest() == \
        c.passwd_before
    out = _archived(c, "job_%s" % j, ".out")
    _assert_private(c, out)  # a regular file now, not the planted link
    assert out.read_text() == "hello from %s\nwarning on stderr\n" % j
    assert _archived(c, "job_%s" % j, ".sh").read_text() == SCRIPT_OK
    # the planted directory was removed when the archive was taken back
    _assert_private(c, _archived(c, "job_%s" % j, ".env"))
    assert not [p for p in c.planted if os.path.lexists(p)]
    assert (c.work / "ok.sh").read_text() == SCRIPT_OK  # only the extra name went
    assert _shadow_leaked(c) is None


def test_array_tasks_are_named_by_array_and_task_id(cluster, jobs):
    c, a = cluster, jobs["array"]
    for t in (1, 2, 3):
        base = "job_%s_%d" % (a, t)
        for s in (".sh", ".out", ".env"):
            _assert_private(c, _archived(c, base, s))
        assert _archived(c, base, ".out").read_text() == "task %d of %s\n" % (t, a)
        assert _archived(c, base, ".sh").read_text() == SCRIPT_ARRAY
        assert "SLURM_ARRAY_TASK_ID=%d\n" % t in _archived(c, base, ".env").read_text()
    assert not _archived(c, "job_%s" % a, ".out").exists()


def test_interactive_srun_job_archives_its_environment(cluster, jobs):
    c, j = cluster, jobs["srun"]
    env = _archived(c, "job_%s" % j, ".env")
    _assert_private(c, env)
    assert "SJA_SRUN_VAR=interactive-value\n" in env.read_text()
    assert DAEMON_MARKER not in env.read_text()
    # no batch script, and the output went to the terminal, not to a file
    assert not _archived(c, "job_%s" % j, ".sh").exists()
    assert not _archived(c, "job_%s" % j, ".out").exists()


def test_node_stays_idle_and_hooks_are_fast(cluster, jobs):
    c = cluster
    assert c.node_state() == "idle"
    slurmd_log = (c.tmp / "log" / "slurmd.log").read_text()
    assert "epilog failed" not in slurmd_log.lower()
    assert "prolog failed" not in slurmd_log.lower()
    times = [int(m) for m in re.findall(r"archived as .* in (\d+) ms", _log(c))]
    assert len(times) >= 10
    # Not a speed target (timed tests flake on a loaded machine): a hook that takes seconds is
    # stuck on something, and near Slurm's PrologEpilogTimeout it would drain the node.
    assert max(times) < 10000, times
    # staging directories are cleaned up
    assert list(c.spool.iterdir()) == []


def test_statesave_fallback_for_env(cluster, jobs):
    """Without a TaskProlog dump, the epilog can take the submitted environment from the
    controller's StateSaveLocation (single-host clusters). Run the epilog by hand for the
    finished job, into a second archive root."""
    c, j = cluster, jobs["secret"]
    conf = c.tmp / "fallback.conf"
    conf.write_text("SLURM_JOB_ARCHIVE_ROOT=%s\nSLURM_JOB_ARCHIVE_SPOOL=%s\n"
                    "SLURM_JOB_ARCHIVE_STATESAVE=%s\nSLURM_JOB_ARCHIVE_SLURM_CONF=%s\n"
                    "SLURM_JOB_ARCHIVE_LOG_FILE=%s\nSLURM_JOB_ARCHIVE_LAYOUT=%s\n" % (
                        c.tmp / "archive2", c.tmp / "spool2", c.tmp / "state", c.conf, c.log,
                        c.layout))
    env = {"PATH": "/usr/bin:/bin", "SLURM_SCRIPT_CONTEXT": "epilog_slurmd", "SLURM_JOB_ID": j,
           "SLURM_JOB_USER": USER, "SLURM_JOB_UID": str(c.uid), "SLURM_JOB_GID": str(c.gid),
           "SLURMD_NODENAME": "localhost", "SLURM_JOB_NODELIST": "localhost",
           "DB_PASSWORD": "root-side-value"}
    r = subprocess.run(["/usr/bin/python3", str(SLURM_DIR / "slurm_job_archive.py"),
                        "--config", str(conf)], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    archived = c.archived("job_%s" % j, ".env").relative_to(c.archive)
    archived = c.tmp / "archive2" / archived
    _assert_private(c, archived)
    text = archived.read_text()
    assert "PLAIN_SETTING=plain-visible\n" in text and "DB_PASSWORD=<redacted>\n" in text
    assert "root-side-value" not in text and "hunter2" not in text
    assert "SLURM_SCRIPT_CONTEXT" not in text


def test_retention_command(cluster, jobs):
    c = cluster
    old = _archived(c, "job_%s" % jobs["ok"], ".err")
    os.utime(old, (time.time() - 40 * 86400,) * 2)
    r = _sh("/usr/bin/python3", str(SLURM_DIR / "slurm_job_archive.py"), "--config",
            str(c.tmp / "archive.conf"), "retention", "--days", "30")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "removed %s" % old
    assert not old.exists()
    assert _archived(c, "job_%s" % jobs["ok"], ".out").exists()


def test_job_name_tokens_do_not_steer_the_epilog(cluster, jobs):
    """-J 'x BatchHost=evil UserId=root(0) BatchFlag=0 ArrayJobId=5 ArrayTaskId=7' used to
    win over the real fields: the job was skipped (not our host / uid mismatch) or archived
    under another job's name."""
    c, j = cluster, jobs["name_tokens"]
    base = "job_%s" % j
    for s in (".sh", ".env", ".out"):
        _assert_private(c, _archived(c, base, s))
    assert _archived(c, base, ".sh").read_text() == SCRIPT_OK
    assert _archived(c, base, ".out").read_text() == "hello from %s\nwarning on stderr\n" % j
    assert not list(c.archive.rglob("job_5_7.*"))


def test_newlines_in_job_name_cannot_forge_fields(cluster, jobs):
    """Slurm keeps newlines in job names; lines forged with them are detected: the script and
    environment are still archived under the job's own id, the record's paths are not used."""
    c, j = cluster, jobs["name_newlines"]
    base = "job_%s" % j
    _assert_private(c, _archived(c, base, ".sh"))
    assert _archived(c, base, ".sh").read_text() == SCRIPT_OK
    _assert_private(c, _archived(c, base, ".env"))
    assert not _archived(c, base, ".out").exists()
    assert "job %s: BatchFlag,StdOut,UserId more than once" % j in _log(c)
    passwd = pathlib.Path("/etc/passwd").read_text()
    assert all(passwd not in p.read_text(errors="replace")
               for p in c.archive.rglob("*") if p.is_file())


def test_stdout_replaced_by_fifo_does_not_hang_the_epilog(cluster, jobs):
    c, j = cluster, jobs["fifo"]
    assert stat.S_ISFIFO(os.lstat(c.work / ("fifo_%s.out" % j)).st_mode)
    assert not _archived(c, "job_%s" % j, ".out").exists()
    assert _archived(c, "job_%s" % j, ".sh").exists()
    assert "fifo_%s.out: not a regular file" % j in _log(c)
    m = re.search(r"job %s: archived as .* in (\d+) ms" % j, _log(c))
    assert m and int(m.group(1)) < 1000


def test_the_clusters_lines_through_the_parsed_tables_transforms(cluster, jobs, capsys):
    """What slurmctld and slurmd wrote at debug level while the jobs ran (success, failure, array,
    srun, cancel), and every archived file, through the transforms of their parsed tables with the
    local KQL engine: every line kept, >= 95% parsed, a job id where a line names one."""
    from controller.components import load_components
    from tests.transforms.figures import run

    components = {c.pattern: c for c in load_components()}
    c = cluster
    for pattern, path in (("slurmctld", "/var/log/slurmctld/slurmctld.log"), ("slurmd", "/var/log/slurmd/slurmd.log")):
        comp = components[pattern]
        lines = (c.tmp / "log" / ("%s.log" % pattern)).read_text().splitlines()
        rows, figures = run(comp.log_format, comp.process or comp.pattern, path, lines, comp.parsed_table)
        with capsys.disabled():
            print("\n%s (%s layout)" % (figures.line(), c.layout))
        figures.assert_targets()
        assert any(r["Level"] == "debug" for r in rows)  # SlurmctldDebug/SlurmdDebug=debug
    assert any(r["Process"] == "slurmstepd" and r["StepId"] == "batch" for r in rows)  # slurmd.log's [id.batch] lines
    comp = components["slurmjobs"]
    total = None
    for f in sorted(p for p in c.archive.rglob("*") if p.is_file()):
        path = "/shared/slurm-logs/%s" % f.relative_to(c.archive)
        lines = f.read_text(errors="replace").splitlines()
        if lines:  # an empty file sends nothing
            _, figures = run(comp.log_format, "job", path, lines, comp.parsed_table)
            total = figures if total is None else total + figures
    with capsys.disabled():
        print("%s (%s layout)" % (total.line(), c.layout))
    total.assert_targets()
