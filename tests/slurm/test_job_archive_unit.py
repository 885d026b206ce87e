"""Fast tests of the pure parts of slurm/slurm_job_archive.py (no Slurm, no root)."""

import importlib.util
import os
import pathlib
import sys

import pytest

SLURM_DIR = pathlib.Path(__file__).resolve().parents[2] / "slurm"


@pytest.fixture(scope="module")
def sja():
    """slurm/slurm_job_archive.py is a script, not a package: load it from its path."""
    spec = importlib.util.spec_from_file_location(
        "slurm_job_archive", SLURM_DIR / "slurm_job_archive.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_validates_user_names(sja):
    for ok in ("alice", "bob.smith", "svc_hpc-1", "_x", "user@corp"):
        assert sja.valid_user(ok), ok
    for bad in ("", ".", "..", "../etc", "a/b", "-rf", "a b", "x\n", ".hidden", "a" * 65):
        assert not sja.valid_user(bad), bad


def test_validates_job_ids(sja):
    assert sja.valid_jobid("1") and sja.valid_jobid("4294967")
    for bad in ("", "0", "01", "1a", "-1", "1/..", "12345678901", " 1"):
        assert not sja.valid_jobid(bad), bad


def test_archive_base_naming(sja):
    assert sja.archive_base("42") == "job_42"
    assert sja.archive_base("44", "42", "3") == "job_42_3"
    assert sja.archive_base("42", None, None) == "job_42"
    assert sja.archive_base("42", "42", "N/A") == "job_42"
    with pytest.raises(sja.ArchiveError):
        sja.archive_base("../1")
    with pytest.raises(sja.ArchiveError):
        sja.archive_base("44", "42", "3/..")


USERS = ("alice", "a.shah", "r.errington", "job_runner", "user@corp", "svc-1", "a.", "_x")


def test_flat_names_give_back_job_user_and_kind(sja):
    assert sja.archive_entry("flat", "job_42", "alice", "out") == "job_42.alice.out"
    assert sja.archive_entry("flat", "job_42_3", "a.shah", "sh") == "job_42_3.a.shah.sh"
    assert sja.archive_entry("per-user", "job_42_3", "a.shah", "sh") == "a.shah/job_42_3.sh"
    for layout in sja.LAYOUTS:
        for user in USERS:
            for base, job in (("job_42", "42"), ("job_42_3", "42_3")):
                for kind in ("sh", "env", "out", "err"):
                    entry = sja.archive_entry(layout, base, user, kind)
                    assert sja.parse_archive_entry(layout, entry) == (job, user, kind), entry
    for bad in ("job_42.out", "job_42.alice.txt", "job_x.alice.out", ".job_42.alice.out",
                "job_42.alice.out.7.tmp", "job_42..out", "job_42.-x.out", "alice/job_42.out",
                "notes.txt"):
        assert sja.parse_archive_entry("flat", bad) is None, bad
    for bad in ("alice/job_42.alice.out", "job_42.out", "../job_42.out", "alice/notes.txt",
                "alice/.job_42.out.7.tmp"):
        assert sja.parse_archive_entry("per-user", bad) is None, bad


def test_only_archive_files_match_the_agents_flat_pattern(sja):
    """The controller collects the flat layout with <root>/job_*: every archive file matches,
    temp files (renamed into place when complete) never do."""
    import fnmatch

    for user in USERS:
        name = sja.archive_entry("flat", "job_7_1", user, "err")
        assert fnmatch.fnmatchcase(name, "job_*") and "/" not in name
        temp = ".%s.%d.tmp" % (name, 12345)  # write_archive_file's temp name
        assert not fnmatch.fnmatchcase(temp, "job_*")
        assert sja.TEMP_NAME_RE.fullmatch(temp).group("name") == name


def test_archive_layout_setting(sja):
    assert sja.DEFAULTS["SLURM_JOB_ARCHIVE_LAYOUT"] == "flat"
    for layout in ("flat", "per-user"):
        assert sja.archive_layout({"SLURM_JOB_ARCHIVE_LAYOUT": layout}) == layout
    for bad in ("", "Flat", "per_user", "peruser"):
        with pytest.raises(sja.ArchiveError, match="SLURM_JOB_ARCHIVE_LAYOUT=.* neither flat "
                           "nor per-user"):
            sja.archive_layout({"SLURM_JOB_ARCHIVE_LAYOUT": bad})


def test_redaction_patterns(sja):
    pats = sja.parse_redact_patterns(sja.DEFAULTS["SLURM_JOB_ARCHIVE_REDACT"])
    for secret in ("DB_PASSWORD", "password", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN",
                   "ssh_key_path", "AZURE_CREDENTIALS", "MYSQL_PASSWD"):
        assert sja.is_secret(secret, pats), secret
    for plain in ("HOME", "PATH", "SLURM_JOB_ID", "USER"):
        assert not sja.is_secret(plain, pats), plain
    assert sja.parse_redact_patterns("") == []
    assert sja.parse_redact_patterns("*A*, B*  C") == ["*A*", "B*", "C"]


def test_parse_environ_and_format(sja):
    raw = b"HOME=/home/a\0DB_PASSWORD=hunter2\0MULTI=line1\nline2\0EMPTY=\0NOEQUALS\0" \
          b"SLURM_SCRIPT_CONTEXT=prolog_task\0EQ=a=b\0"
    entries = sja.parse_environ(raw)
    assert ("EQ", "a=b") in entries and ("EMPTY", "") in entries
    assert all(n != "NOEQUALS" for n, _ in entries)
    text = sja.format_env(entries, ["*PASSWORD*"]).decode()
    assert text.splitlines() == [
        "DB_PASSWORD=<redacted>", "EMPTY=", "EQ=a=b", "HOME=/home/a", "MULTI=line1\\nline2"]
    assert "hunter2" not in text
    assert "SLURM_SCRIPT_CONTEXT" not in text


def test_parse_statesave_environment(sja):
    entries = [b"A=1", b"TOKEN=x", b"B=two words"]
    data = len(entries).to_bytes(4, sys.byteorder) + b"".join(e + b"\0" for e in entries)
    assert sja.parse_statesave_environment(data) == [
        ("A", "1"), ("TOKEN", "x"), ("B", "two words")]
    with pytest.raises(sja.ArchiveError):
        sja.parse_statesave_environment((5).to_bytes(4, sys.byteorder) + b"A=1\0")
    with pytest.raises(sja.ArchiveError):
        sja.parse_statesave_environment(b"\1")


def test_cap_bytes_keeps_head_and_tail_with_marker(sja):
    data = b"H" * 600 + b"M" * 1000 + b"T" * 600
    out = sja.cap_bytes(data, 1000)
    assert out.startswith(b"H" * 500) and out.endswith(b"T" * 500)
    assert b"truncated: 1200 of 2200 bytes omitted" in out
    assert sja.cap_bytes(b"small", 1000) == b"small"


def test_parse_config_text(sja):
    cfg = sja.parse_config_text(
        "# comment\nSLURM_JOB_ARCHIVE_ROOT='/a b'\nexport SLURM_JOB_ARCHIVE_MAX_BYTES=5\n"
        "garbage line\nSLURM_JOB_ARCHIVE_REDACT=\n")
    assert cfg == {"SLURM_JOB_ARCHIVE_ROOT": "/a b", "SLURM_JOB_ARCHIVE_MAX_BYTES": "5",
                   "SLURM_JOB_ARCHIVE_REDACT": ""}


SHOW_ARRAY = """JobId=7 ArrayJobId=6 ArrayTaskId=2 JobName=my job
   UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A
   JobState=COMPLETING Reason=None Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
   NodeList=cn001
   BatchHost=cn001
   WorkDir=/home/alice/with space
   StdErr=/home/alice/with space/e 7.err
   StdIn=/dev/null
   StdOut=/home/alice/with space/arr_6_2.out
   Power=


JobId=6 ArrayJobId=6 ArrayTaskId=1 JobName=my job
   UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A
   BatchFlag=1
   StdOut=/home/alice/arr_6_1.out
   Power=

"""


def test_parse_scontrol_picks_own_record(sja):
    recs = sja.parse_scontrol_jobs(SHOW_ARRAY)
    assert len(recs) == 2
    rec = sja.pick_job(recs, "7")
    assert rec["ArrayJobId"] == "6" and rec["ArrayTaskId"] == "2"
    assert rec["StdOut"] == "/home/alice/with space/arr_6_2.out"
    assert rec["StdErr"] == "/home/alice/with space/e 7.err"
    assert rec["BatchHost"] == "cn001" and rec["BatchFlag"] == "1"
    assert sja.uid_from_userid(rec["UserId"]) == 1001
    assert sja.pick_job(recs, "6")["StdOut"] == "/home/alice/arr_6_1.out"
    assert sja.pick_job(recs, "8") is None


def test_first_host(sja):
    assert sja.first_host("localhost") == "localhost"
    assert sja.first_host("cn[003-010,20],gpu1") == "cn003"
    assert sja.first_host("cn5,cn[1-2]") == "cn5"
    assert sja.first_host("hpc-pg0-[1-4]") == "hpc-pg0-1"
    assert sja.first_host("") is None
    assert sja.first_host("rack[1-2]node[1-4]") is None


def test_hook_mode_always_exits_zero(sja, tmp_path):
    conf = tmp_path / "conf"
    conf.write_text("SLURM_JOB_ARCHIVE_ROOT=relative/path\nSLURM_JOB_ARCHIVE_LOG_FILE=%s\n"
                    % (tmp_path / "log"))
    env = {"SLURM_SCRIPT_CONTEXT": "epilog_slurmd", "SLURM_JOB_ID": "../../etc",
           "SLURM_JOB_USER": "root", "SLURM_JOB_UID": "0", "SLURM_JOB_GID": "0"}
    assert sja.main(["--config", str(conf)], env=env) == 0
    assert "invalid SLURM_JOB_ID" in (tmp_path / "log").read_text()
    # unknown hook context (e.g. installed as PrologSlurmctld): nothing, exit 0
    assert sja.main(["--config", str(conf)], env={"SLURM_SCRIPT_CONTEXT": "prolog_slurmctld"}) == 0


def test_retention_removes_only_old_archive_files_of_both_layouts(sja, tmp_path):
    root = tmp_path / "archive"
    (root / "alice").mkdir(parents=True)
    old = [root / "job_1.a.shah.out", root / ".job_1.a.shah.err.77.tmp",
           root / "alice" / "job_1.out", root / "alice" / ".job_1.err.77.tmp"]
    new = [root / "job_2.a.shah.out", root / "alice" / "job_2.out"]
    others = [root / "notes.txt", root / "alice" / "notes.txt", root / "alice" / "job_3.a.out"]
    for p in old + new + others:
        p.write_text("x")
    for p in old + others:
        os.utime(p, (1, 1))
    os.symlink("/etc/passwd", root / "job_4.bob.out")  # the link goes, never its target
    os.utime(root / "job_4.bob.out", (1, 1), follow_symlinks=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "job_3.out").write_text("x")
    os.utime(outside / "job_3.out", (1, 1))
    (root / "bob").symlink_to(outside)  # a symlinked "user dir" is never entered
    settings = dict(sja.DEFAULTS, SLURM_JOB_ARCHIVE_ROOT=str(root))
    assert sja.do_retention(settings, 30, dry_run=True, out=open(os.devnull, "w")) == 5
    assert all(p.exists() for p in old)
    assert sja.do_retention(settings, 30, out=open(os.devnull, "w")) == 5
    assert not [p for p in old if p.exists()] and not (root / "job_4.bob.out").is_symlink()
    assert all(p.exists() for p in new + others)
    assert (outside / "job_3.out").exists() and os.path.exists("/etc/passwd")


def test_retention_refuses_an_unknown_layout(sja, tmp_path, capsys):
    conf = tmp_path / "conf"
    conf.write_text("SLURM_JOB_ARCHIVE_ROOT=%s\nSLURM_JOB_ARCHIVE_LAYOUT=per_user\n" % tmp_path)
    assert sja.main(["--config", str(conf), "retention"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SLURM_JOB_ARCHIVE_LAYOUT='per_user'" in err


def test_epilog_with_an_unknown_layout_logs_one_line_and_cleans_staging(sja, tmp_path):
    import pwd

    me = pwd.getpwuid(os.getuid())
    spool = tmp_path / "spool"
    (spool / "78").mkdir(parents=True)
    log = tmp_path / "log"
    scontrol = tmp_path / "scontrol"
    scontrol.write_text("#!/bin/sh\necho 'JobId=78 JobName=x'\necho '   UserId=%s(%d) "
                        "BatchFlag=0'\n" % (me.pw_name, me.pw_uid))
    scontrol.chmod(0o755)
    conf = tmp_path / "conf"
    conf.write_text("SLURM_JOB_ARCHIVE_ROOT=%s\nSLURM_JOB_ARCHIVE_SPOOL=%s\n"
                    "SLURM_JOB_ARCHIVE_LAYOUT=nested\nSLURM_JOB_ARCHIVE_SCONTROL=%s\n"
                    "SLURM_JOB_ARCHIVE_LOG_FILE=%s\n" % (tmp_path / "archive", spool, scontrol,
                                                        log))
    env = {"SLURM_SCRIPT_CONTEXT": "epilog_slurmd", "SLURM_JOB_ID": "78",
           "SLURM_JOB_USER": me.pw_name, "SLURM_JOB_UID": str(me.pw_uid),
           "SLURM_JOB_GID": str(me.pw_gid)}
    assert sja.main(["--config", str(conf)], env=env) == 0
    assert not (spool / "78").exists() and not (tmp_path / "archive").exists()
    (line,) = log.read_text().splitlines()
    assert "SLURM_JOB_ARCHIVE_LAYOUT='nested' is neither flat nor per-user" in line


def test_shipped_default_file_matches_program_defaults(sja):
    slurm_dir = pathlib.Path(sja.__file__).parent
    shipped = sja.parse_config_text((slurm_dir / "slurm-job-archive.default").read_text())
    assert shipped == sja.DEFAULTS
    task_prolog = (slurm_dir / "task_prolog.sh").read_text()
    assert "_sja_spool=%s\n" % sja.DEFAULTS["SLURM_JOB_ARCHIVE_SPOOL"] in task_prolog
    assert "_sja_conf=${1:-%s}" % sja.DEFAULT_CONFIG in task_prolog


def test_retention_rejects_bad_days(sja, tmp_path, capsys):
    conf = tmp_path / "conf"
    conf.write_text("SLURM_JOB_ARCHIVE_ROOT=%s\n" % tmp_path)
    assert sja.main(["--config", str(conf), "retention", "--days", "soon"]) == 2
    assert sja.main(["--config", str(conf), "retention", "--days"]) == 2
    assert sja.main(["--config", str(conf), "retention", "--days", "0", "--dry-run"]) == 0


def test_epilog_on_other_nodes_only_cleans_staging(sja, tmp_path):
    """A multi-node job: nodes other than the first (the batch host) drop their staged env and
    never call scontrol or touch the archive."""
    import pwd

    me = pwd.getpwuid(os.getuid())
    spool = tmp_path / "spool"
    (spool / "77").mkdir(parents=True)
    (spool / "77" / "env").write_bytes(b"A=1\0")
    log = tmp_path / "log"
    conf = tmp_path / "conf"
    conf.write_text("SLURM_JOB_ARCHIVE_ROOT=%s\nSLURM_JOB_ARCHIVE_SPOOL=%s\n"
                    "SLURM_JOB_ARCHIVE_SCONTROL=/bin/false\nSLURM_JOB_ARCHIVE_LOG_FILE=%s\n"
                    % (tmp_path / "archive", spool, log))
    env = {"SLURM_SCRIPT_CONTEXT": "epilog_slurmd", "SLURM_JOB_ID": "77",
           "SLURM_JOB_USER": me.pw_name, "SLURM_JOB_UID": str(me.pw_uid),
           "SLURM_JOB_GID": str(me.pw_gid), "SLURMD_NODENAME": "cn2",
           "SLURM_JOB_NODELIST": "cn[1-2]"}
    assert sja.main(["--config", str(conf)], env=env) == 0
    assert not (spool / "77").exists()
    assert not (tmp_path / "archive").exists()
    assert not log.exists() or "scontrol" not in log.read_text()


# `scontrol show job -dd` for a job whose user-chosen name (-J) and comment carry key=value
# tokens and newlines: none of them may change what the epilog archives or where.
SHOW_INJECTED_TOKENS = """JobId=21 JobName=x BatchHost=evil UserId=root(0) BatchFlag=0 ArrayJobId=5 ArrayTaskId=7
   UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
   NodeList=cn001
   BatchHost=cn001
   Comment=c StdOut=/etc/shadow BatchHost=evil2
   StdErr=/home/alice/e.err
   StdIn=/dev/null
   StdOut=/home/alice/o.out
   Power=
"""


def test_user_set_tokens_in_job_name_or_comment_change_nothing(sja):
    rec, problem = sja.job_record(SHOW_INJECTED_TOKENS, "21")
    assert problem is None
    assert rec["UserId"] == "alice(1001)" and rec["BatchHost"] == "cn001"
    assert rec["BatchFlag"] == "1"
    assert "ArrayJobId" not in rec and "ArrayTaskId" not in rec
    assert rec["StdOut"] == "/home/alice/o.out" and rec["StdErr"] == "/home/alice/e.err"
    assert rec["JobName"] == "x BatchHost=evil UserId=root(0) BatchFlag=0 ArrayJobId=5 ArrayTaskId=7"


def _show(name):
    return ("JobId=22 JobName=%s\n   UserId=alice(1001) GroupId=alice(1001) MCS_label=N/A\n"
            "   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0\n   BatchHost=cn001\n"
            "   StdErr=/home/alice/o.out\n   StdIn=/dev/null\n   StdOut=/home/alice/o.out\n"
            "   Power=\n   \n\n" % name)


def test_newlines_in_user_set_fields_make_the_record_untrusted(sja):
    """Slurm accepts newlines in job names and comments; lines forged with them must never
    override the real ones (a blank line used to end the record early, handing the parser
    the forged block only)."""
    for name in ("a\n\n   StdOut=/etc/shadow\n   BatchFlag=0\n",
                 "a\n   UserId=root(0)\n   BatchHost=evil",
                 "a\nJobId=22 ArrayJobId=9 ArrayTaskId=1 JobName=b",
                 "a\x1c   BatchFlag=0\u2028   StdOut=/x"):
        rec, problem = sja.job_record(_show(name), "22")
        if rec is not None and problem is None:
            # no forged value won: only possible when nothing was duplicated
            assert rec["StdOut"] == "/home/alice/o.out", name
            assert rec["BatchFlag"] == "1" and rec["UserId"] == "alice(1001)", name
        else:
            assert problem, name
        # naming always comes from the Slurm-written part of the record's first line
        assert sja.job_record(_show(name), "22")[0].get("ArrayJobId") is None, name
    rec, problem = sja.job_record(_show("plain name"), "22")
    assert problem is None and rec["StdOut"] == "/home/alice/o.out"
    assert sja.job_record(_show("x"), "23") == (None, "job 23 not in scontrol's output")


_HANG_RUNNER = r"""
import importlib.util, os, pwd, sys, time
spec = importlib.util.spec_from_file_location("sja", sys.argv[1])
sja = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sja)
pidfile, mode = sys.argv[3], sys.argv[4]

def hang(*a, **k):
    with open(pidfile, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(600)

if mode == "read":      # a read that blocks (hung FUSE/NFS file) past the whole budget
    sja._read_capped = hang
    real_read_as_user = sja.read_as_user
    sja.read_as_user = lambda path, uid, gid, groups, limit, timeout: real_read_as_user(
        path, uid, gid, groups, limit, 600)
else:                   # the budget runs out, then the staging clean-up blocks too
    sja._archive = lambda *a, **k: time.sleep(600)
    sja._remove_tree_at = hang
me = pwd.getpwuid(os.getuid())
env = {"SLURM_SCRIPT_CONTEXT": "epilog_slurmd", "SLURM_JOB_ID": "31",
       "SLURM_JOB_USER": me.pw_name, "SLURM_JOB_UID": str(me.pw_uid),
       "SLURM_JOB_GID": str(me.pw_gid)}
sys.exit(sja.main(["--config", sys.argv[2]], env=env))
"""


@pytest.mark.parametrize("mode", ["read", "cleanup"])
def test_hook_ends_soon_after_its_budget_even_if_io_hangs(sja, tmp_path, mode):
    """The whole run is bounded: a child stuck reading a user's file is killed (it used to be
    waited for forever once the budget ran out), and clean-up that blocks after the budget
    ran out can't keep the hook (and the node's epilog) running: it exits 0 soon after."""
    import subprocess
    import time

    spool = tmp_path / "spool"
    (spool / "31").mkdir(parents=True)
    (spool / "31" / "env").write_bytes(b"A=1\0")
    conf = tmp_path / "conf"
    conf.write_text("SLURM_JOB_ARCHIVE_ROOT=%s\nSLURM_JOB_ARCHIVE_SPOOL=%s\n"
                    "SLURM_JOB_ARCHIVE_TIMEOUT=0.25\nSLURM_JOB_ARCHIVE_LOG_FILE=%s\n"
                    % (tmp_path / "archive", spool, tmp_path / "log"))
    pidfile = tmp_path / "hung.pid"
    t0 = time.monotonic()
    try:
        r = subprocess.run([sys.executable, "-c", _HANG_RUNNER, str(SLURM_DIR /
                            "slurm_job_archive.py"), str(conf), str(pidfile), mode],
                           capture_output=True, text=True, timeout=12)
    finally:
        if pidfile.exists():
            hung = int(pidfile.read_text())
            try:
                os.kill(hung, 9)  # whatever the outcome, don't leave it behind
                leftover = True
            except ProcessLookupError:
                leftover = False
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 6  # budget 1 s + grace
    assert "gave up after 1 s" in (tmp_path / "log").read_text()
    if mode == "read":
        assert not leftover, "the reader child was left running"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown)")
@pytest.mark.parametrize("layout,mode", [("flat", 0o711), ("per-user", 0o755)])
def test_taking_back_an_archive_root_others_could_write_drops_what_they_planted(
        sja, tmp_path, layout, mode):
    """An archive root (or user folder) that was not root's: links, FIFOs, other people's
    files and directories in it are removed (the log agent reads <root>/*/* as root), plain
    files of the folder's user are kept."""
    import pwd
    import stat as st_

    root = tmp_path / "archive"
    root.mkdir()
    (root / "evil").symlink_to("/etc")
    os.mkfifo(root / "fifo")
    stranger = root / "no-such-user-xyz"
    stranger.mkdir()
    (stranger / "job_1.out").symlink_to("/etc/shadow")
    (stranger / "job_2.out").write_text("forged")
    mine = root / "root"  # uid 0's folder, created by uid 1 while the root was open
    mine.mkdir()
    (mine / "job_3.out").write_text("has two names")
    (mine / "job_4.out").write_text("forged by uid 1")
    os.link(mine / "job_3.out", mine / "job_5.out")  # two names: both dropped
    (mine / "job_6.out").write_text("kept too")
    # flat names: kept only if a plain file of the user the name names
    daemon = pwd.getpwuid(1).pw_name
    (root / ("job_7.%s.out" % daemon)).write_text("uid 1's own")
    (root / "job_8.root.out").write_text("root's own")
    (root / "job_9.root.out").write_text("planted by uid 1 under root's name")
    (root / "job_10.root.out").symlink_to("/etc/shadow")
    os.mkfifo(root / ("job_11.%s.err" % daemon))
    (root / "job_13.root.env").mkdir()  # a valid user name, but where <root>/job_* looks
    (root / ".job_12.root.sh.5.tmp").write_text("another epilog is writing this")
    for p in (root, stranger, mine, mine / "job_4.out", stranger / "job_2.out",
              root / ("job_7.%s.out" % daemon), root / "job_9.root.out",
              root / ("job_11.%s.err" % daemon)):
        os.chown(p, 1, 1, follow_symlinks=False)
    root.chmod(0o777)
    fd = sja.open_root_dir(str(root), layout)
    os.close(fd)
    st = os.stat(root)
    assert (st.st_uid, st.st_gid, st_.S_IMODE(st.st_mode)) == (0, 0, mode)
    assert sorted(os.listdir(root)) == [".job_12.root.sh.5.tmp", "job_7.%s.out" % daemon,
                                        "job_8.root.out", "no-such-user-xyz", "root"]
    assert os.listdir(stranger) == []
    assert os.stat(stranger).st_uid == 0 and st_.S_IMODE(os.stat(stranger).st_mode) == 0o700
    assert sorted(os.listdir(mine)) == ["job_6.out"]
    assert os.stat(mine).st_uid == 0


def test_default_redaction_covers_common_secret_names(sja):
    pats = sja.parse_redact_patterns(sja.DEFAULTS["SLURM_JOB_ARCHIVE_REDACT"])
    for secret in ("DB_PASS", "MYSQL_PASS", "LDAP_PASS", "SSHPASS", "DB_PWD", "GPG_PASSPHRASE",
                   "OPENAI_API_KEY", "my_apikey", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                   "AZURE_CLIENT_SECRET", "AZURE_STORAGE_CONNECTION_STRING", "GITHUB_TOKEN",
                   "GH_PAT", "AZURE_DEVOPS_PAT", "HTPASSWD", "ROOT_PASSWD", "SLURM_JWT",
                   "HTTP_AUTHORIZATION", "SESSION_COOKIE", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert sja.is_secret(secret, pats), secret
    # names Slurm sets or reads (from its binaries' strings), none of them secret but SLURM_JWT
    for plain in ("SLURM_WCKEY", "SLURM_PMI_KVS_DUP_KEYS", "SLURM_PMI_KVS_NO_DUP_KEYS",
                  "SLURM_PMI2_PPKEY", "SLURM_MUNGE_AUTH_FAIL_TEST", "SLURM_JOB_ID",
                  "SLURM_JOB_NAME", "SLURM_JOB_PARTITION", "SLURM_SUBMIT_DIR", "SLURM_TASK_PID",
                  "SLURM_STEP_ID", "SLURM_CPUS_ON_NODE", "SLURM_TOPOLOGY_ADDR_PATTERN",
                  "SLURM_CLUSTER_NAME", "SLURM_ARRAY_TASK_ID", "SPANK_X", "PMIX_RANK",
                  "PWD", "OLDPWD", "HOME", "PATH", "PASSENGER_ROOT", "COMPASS_HOME",
                  "SSH_AUTH_SOCK", "XAUTHORITY", "LD_LIBRARY_PATH"):
        assert not sja.is_secret(plain, pats), plain


def test_exceptions_in_redaction_patterns(sja):
    pats = sja.parse_redact_patterns("*KEY*, !SLURM_*KEY*")
    assert sja.is_secret("API_KEY", pats) and not sja.is_secret("SLURM_WCKEY", pats)
    assert not sja.is_secret("ANYTHING", sja.parse_redact_patterns("!X*"))


def test_env_names_with_newlines_cannot_forge_lines(sja):
    """execve allows any byte but NUL in a name: a newline there would forge a line."""
    entries = sja.parse_environ(b"A\nSLURM_JOB_USER=bob\0B\r=x\\y\0")
    text = sja.format_env(entries, []).decode()
    assert text.splitlines() == ["A\\nSLURM_JOB_USER=bob", "B\\r=x\\\\y"]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, setuid)")
def test_prolog_gives_the_user_one_file_not_a_directory(sja, tmp_path):
    """The staging directory is on /run (a small tmpfs root's daemons need). A user-owned
    directory there let a job create any number of entries, even a tree too deep for the
    epilog to remove, filling /run for good. Now the user can write one pre-made file."""
    import pwd
    import stat as st_

    nobody = pwd.getpwnam("nobody")
    spool = tmp_path / "spool"
    conf = tmp_path / "conf"
    conf.write_text("SLURM_JOB_ARCHIVE_SPOOL=%s\nSLURM_JOB_ARCHIVE_LOG_FILE=%s\n" % (
        spool, tmp_path / "log"))
    tmp_path.chmod(0o755)
    env = {"SLURM_SCRIPT_CONTEXT": "prolog_slurmd", "SLURM_JOB_ID": "41",
           "SLURM_JOB_USER": "nobody", "SLURM_JOB_UID": str(nobody.pw_uid),
           "SLURM_JOB_GID": str(nobody.pw_gid)}
    assert sja.main(["--config", str(conf)], env=env) == 0
    st = os.lstat(spool / "41")
    assert (st.st_uid, st_.S_IMODE(st.st_mode)) == (0, 0o755)
    st = os.lstat(spool / "41" / "env")
    assert st_.S_ISREG(st.st_mode) and st.st_size == 0
    assert (st.st_uid, st.st_gid, st_.S_IMODE(st.st_mode)) == (
        nobody.pw_uid, nobody.pw_gid, 0o600)
    dfd = os.open(spool / "41", os.O_RDONLY | os.O_DIRECTORY)  # tmp_path's parents are 0700
    pid = os.fork()
    if pid == 0:  # as the user: the file is writable, the directory is not
        try:
            os.setgroups([])
            os.setresgid(nobody.pw_gid, nobody.pw_gid, nobody.pw_gid)
            os.setresuid(nobody.pw_uid, nobody.pw_uid, nobody.pw_uid)
            fd = os.open("env", os.O_WRONLY | os.O_APPEND, dir_fd=dfd)
            os.write(fd, b"A=1\0")
            try:
                os.mkdir("d", dir_fd=dfd)
                os._exit(1)
            except PermissionError:
                pass
            os._exit(0)
        finally:
            os._exit(2)
    os.close(dfd)
    assert os.waitpid(pid, 0)[1] == 0
    assert (spool / "41" / "env").read_bytes() == b"A=1\0"
    (spool / "41" / "env").write_bytes(b"")
    # an empty file (no TaskProlog ran) means "no environment", not an empty .env
    env.update(SLURM_SCRIPT_CONTEXT="epilog_slurmd", SLURMD_NODENAME="cn2",
               SLURM_JOB_NODELIST="cn[1-2]")
    assert sja.main(["--config", str(conf)], env=env) == 0
    assert not (spool / "41").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown)")
def test_concurrent_takeover_spares_writes_in_progress_and_a_held_lock_only_delays(
        sja, tmp_path):
    """Several epilogs can find the seed's user-owned folder at once: the one taking it back
    must not remove the temp file another is writing (root's until fchown), and a lock a
    user holds on their folder (they can open it) delays an epilog by seconds, not forever."""
    import fcntl
    import time

    root = tmp_path / "archive"
    (root / "u1").mkdir(parents=True)
    os.chown(root / "u1", 1, 1)
    (root / "u1" / ".job_5.out.123.tmp").write_text("being written by another epilog")
    (root / "u1" / "job_6.out").write_text("root's, but not ours: planted")
    held = os.open(root / "u1", os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)
    rfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    t0 = time.monotonic()
    ufd = sja.open_user_dir(rfd, "u1", 1, uid=1)
    assert time.monotonic() - t0 < 4
    os.close(ufd)
    os.close(rfd)
    os.close(held)
    assert os.listdir(root / "u1") == [".job_5.out.123.tmp"]


def test_purge_keeps_a_file_renamed_over_a_planted_name_after_its_snapshot(sja, tmp_path, monkeypatch):
    """Two epilogs, one user folder of the seed's layout: B takes it back and purges a planted
    link; A, finding the folder already closed, renames its real output over that very name
    between B's snapshot and B's unlink. A's file must survive."""
    folder = tmp_path / "user"
    folder.mkdir()
    os.symlink("/etc/shadow", folder / "job_1.out")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    real_stat = os.stat
    raced = []

    def stat_then_race(name, *args, **kwargs):
        result = real_stat(name, *args, **kwargs)
        if name == "job_1.out" and not raced:  # B has just looked at the planted link
            raced.append(True)
            sja.write_archive_file(fd, "job_1.out", b"real output\n", os.getuid(), os.getgid())
        return result

    monkeypatch.setattr(os, "stat", stat_then_race)
    try:
        sja._purge_planted(fd, str(folder), sja._plain_file_of(os.getuid()))
    finally:
        monkeypatch.undo()
        os.close(fd)
    assert raced and (folder / "job_1.out").read_bytes() == b"real output\n"
    assert not (folder / "job_1.out").is_symlink()


def test_purge_still_removes_what_was_planted(sja, tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    os.symlink("/etc/shadow", folder / "job_2.out")
    os.mkfifo(folder / "job_3.err")
    (folder / "job_4.out").write_text("mine\n")
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        sja._purge_planted(fd, str(folder), sja._plain_file_of(os.getuid()))
    finally:
        os.close(fd)
    assert sorted(p.name for p in folder.iterdir()) == ["job_4.out"]
