#!/usr/bin/python3
"""slurm-job-archive: keep every Slurm job's script, environment, stdout and stderr.

    <root>/job_<jobid>.<user>.{sh,env,out,err}              flat layout (default)
    <root>/job_<arrayjobid>_<taskid>.<user>.{sh,env,out,err} ... for an array task
    <root>/<user>/job_<jobid>[_<taskid>].{sh,env,out,err}    per-user layout (the seed's)

Hooks (see slurm/README.md):
  Prolog   (root, compute node)   creates a per-job staging file owned by the job user
  TaskProlog (job user, node)      task_prolog.sh drops the task's environment into it
  Epilog   (root, compute node)   on the job's batch host: fetches the script from slurmctld,
                                   reads the staged environment and the job's stdout/stderr
                                   *as the job user*, and writes the archive files
  retention (admin / cron)         removes archive files older than N days

Run with no subcommand, the mode comes from SLURM_SCRIPT_CONTEXT, so the file can be dropped
into /etc/slurm/prolog.d/ and /etc/slurm/epilog.d/ unchanged.  As a Slurm hook it always exits
0: a failing epilog would drain the node.  Failures go to syslog.

Standard library only; settings come from a KEY=value file (default
/etc/default/slurm-job-archive), never from the environment.
"""

import contextlib
import errno
import fnmatch
import os
import pwd
import re
import select
import signal
import stat
import subprocess
import sys
import syslog
import time

DEFAULT_CONFIG = "/etc/default/slurm-job-archive"

DEFAULTS = {
    # where archives go; must live on a file system root can chown on (no root_squash)
    "SLURM_JOB_ARCHIVE_ROOT": "/shared/slurm-logs",
    # flat: every file directly in the root, collected by the one pattern <root>/job_*;
    # per-user: <root>/<user>/job_*, which needs a wildcard in a directory (<root>/*/*)
    "SLURM_JOB_ARCHIVE_LAYOUT": "flat",
    # node-local staging directory for the TaskProlog's environment dump
    "SLURM_JOB_ARCHIVE_SPOOL": "/run/slurm-job-archive",
    # cap for each archived file (.out, .err, .sh, .env); larger files keep head and tail
    "SLURM_JOB_ARCHIVE_MAX_BYTES": str(10 * 1024 * 1024),
    # environment variable names whose values are replaced (shell patterns, any case; a
    # leading ! excepts names: Slurm's own harmless *KEY* variables); empty: no redaction
    "SLURM_JOB_ARCHIVE_REDACT": ("*PASSWORD*,*PASSWD*,*PASSPHRASE*,*_PASS,*_PWD,SSHPASS,"
                                 "*SECRET*,*TOKEN*,*KEY*,*CREDENTIAL*,*JWT*,*_PAT,"
                                 "*CONNECTION_STRING*,*AUTHORIZATION*,*COOKIE*,"
                                 "!SLURM_WCKEY,!SLURM_PMI_KVS_*DUP_KEYS,!SLURM_PMI2_PPKEY"),
    "SLURM_JOB_ARCHIVE_RETENTION_DAYS": "30",
    "SLURM_JOB_ARCHIVE_SCONTROL": "/usr/bin/scontrol",
    # slurm.conf for scontrol; empty: SLURM_CONF from slurmd's hook environment, else default
    "SLURM_JOB_ARCHIVE_SLURM_CONF": "",
    # seconds for each scontrol call / file read; the whole run is bounded by 4x this
    "SLURM_JOB_ARCHIVE_TIMEOUT": "5",
    # optional fallback for .env when no TaskProlog dump exists: slurmctld's StateSaveLocation,
    # only useful where the epilog runs on the controller host (single-host clusters)
    "SLURM_JOB_ARCHIVE_STATESAVE": "",
    # optional extra log file (syslog is always used)
    "SLURM_JOB_ARCHIVE_LOG_FILE": "",
}

REDACTED = "<redacted>"
GRACE_SECONDS = 2  # after the run's budget, for clean-up, before a hard exit 0
SAFE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_USER = r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}"
USER_RE = re.compile(r"^%s$" % _USER)
JOBID_RE = re.compile(r"^[1-9][0-9]{0,9}$")
ID_RE = re.compile(r"^[0-9]{1,10}$")
LAYOUTS = ("flat", "per-user")
# The job part has no dot and the kind none either, so the user (which may hold dots, like
# a.shah) is everything between the first and the last dot of a flat name.
_BASE = r"job_(?P<job>[0-9]+(?:_[0-9]+)?)"
_KIND = r"(?P<kind>sh|env|out|err)"
NAME_RES = {
    "flat": re.compile(r"^%s\.(?P<user>%s)\.%s$" % (_BASE, _USER, _KIND)),
    "per-user": re.compile(r"^%s\.%s$" % (_BASE, _KIND)),
}
# a file being written: a leading dot, so the agent's <root>/job_* never sees it
TEMP_NAME_RE = re.compile(r"^\.(?P<name>job_[^/]+)\.[0-9]+\.tmp$")
USER_DIR_MODE = 0o750  # root:<user's primary group>
FILE_MODE = 0o600  # <user>:<user's primary group>
# root:root. flat: others may open a file whose name they know, never list or create one;
# per-user: listable, the privacy is in the user folders
ROOT_MODES = {"flat": 0o711, "per-user": 0o755}
SPOOL_MODE = 0o755  # root:root


class ArchiveError(Exception):
    pass


# --------------------------------------------------------------------------- settings / logging


def parse_config_text(text):
    """KEY=value lines; '#' comments; optional matching quotes. Unknown keys are kept."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def load_settings(path):
    settings = dict(DEFAULTS)
    try:
        with open(path, encoding="utf-8") as f:
            settings.update(parse_config_text(f.read()))
    except FileNotFoundError:
        pass
    return settings


class Log:
    def __init__(self):
        self.file = None
        syslog.openlog("slurm-job-archive", syslog.LOG_PID, syslog.LOG_DAEMON)

    def set_file(self, path):
        self.file = path or None

    def _emit(self, prio, label, msg):
        try:
            syslog.syslog(prio, msg)
        except Exception:
            pass
        if self.file:
            try:
                with open(self.file, "a", encoding="utf-8") as f:
                    f.write("%s %s[%d] %s: %s\n" % (
                        time.strftime("%Y-%m-%dT%H:%M:%S"), "slurm-job-archive", os.getpid(),
                        label, msg))
            except Exception:
                pass

    def info(self, msg):
        self._emit(syslog.LOG_INFO, "info", msg)

    def warning(self, msg):
        self._emit(syslog.LOG_WARNING, "warning", msg)

    def error(self, msg):
        self._emit(syslog.LOG_ERR, "error", msg)


LOG = Log()


# --------------------------------------------------------------------------- pure helpers


def valid_user(name):
    return bool(name) and bool(USER_RE.fullmatch(name))


def valid_jobid(value):
    return bool(value) and bool(JOBID_RE.fullmatch(value))


def valid_id(value):
    return bool(value) and bool(ID_RE.fullmatch(value))


def archive_layout(settings):
    layout = settings.get("SLURM_JOB_ARCHIVE_LAYOUT", "")
    if layout not in LAYOUTS:
        raise ArchiveError("SLURM_JOB_ARCHIVE_LAYOUT=%r is neither flat nor per-user: set one of "
                           "them in the config file" % layout)
    return layout


def archive_entry(layout, base, user, kind):
    """A job's archived file, relative to the archive root."""
    if layout == "flat":
        return "%s.%s.%s" % (base, user, kind)
    return "%s/%s.%s" % (user, base, kind)


def parse_archive_entry(layout, entry):
    """(job, user, kind) from an archive_entry() path, job being `12` or `12_3` (array task);
    None for any other name."""
    if layout == "flat":
        m = NAME_RES["flat"].fullmatch(entry)
        return (m.group("job"), m.group("user"), m.group("kind")) if m else None
    user, sep, name = entry.partition("/")
    m = NAME_RES["per-user"].fullmatch(name)
    if not sep or not m or not valid_user(user):
        return None
    return m.group("job"), user, m.group("kind")


def archive_base(job_id, array_job_id=None, array_task_id=None):
    """job_<jobid>, or job_<arrayjobid>_<taskid> for an array task."""
    if not valid_jobid(job_id):
        raise ArchiveError("invalid job id %r" % (job_id,))
    if array_job_id and array_task_id is not None and array_task_id != "N/A":
        if not valid_jobid(array_job_id) or not valid_id(array_task_id):
            raise ArchiveError("invalid array id %r_%r" % (array_job_id, array_task_id))
        return "job_%s_%s" % (array_job_id, array_task_id)
    return "job_%s" % job_id


def parse_redact_patterns(text):
    return [p for p in re.split(r"[,\s]+", text or "") if p]


def is_secret(name, patterns):
    """name matches a pattern and no !exception (case-insensitive shell patterns)."""
    upper = name.upper()
    hit = False
    for p in patterns:
        if p.startswith("!"):
            if fnmatch.fnmatchcase(upper, p[1:].upper()):
                return False
        elif not hit:
            hit = fnmatch.fnmatchcase(upper, p.upper())
    return hit


def parse_environ(data):
    """NUL-separated NAME=value entries (/proc/N/environ, `env -0`) -> list of (name, value)."""
    out = []
    for entry in data.split(b"\0"):
        if not entry:
            continue
        name, sep, value = entry.partition(b"=")
        if not sep or not name:
            continue
        out.append((name.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
    return out


def parse_statesave_environment(data):
    """slurmctld's StateSaveLocation hash.N/job.N/environment: a 4-byte native count, then
    that many NUL-terminated NAME=value entries."""
    if len(data) < 4:
        raise ArchiveError("environment file too short")
    count = int.from_bytes(data[:4], sys.byteorder)
    entries = parse_environ(data[4:])
    if count != len(entries):
        raise ArchiveError("environment count %d != %d entries" % (count, len(entries)))
    return entries


# variables that describe the TaskProlog itself, not the job
_HOOK_VARS = {"SLURM_SCRIPT_CONTEXT"}


def _escape(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def format_env(entries, patterns):
    """Sorted NAME=value lines, secrets redacted, newlines escaped as \\n in names and
    values (one var per line)."""
    lines = []
    for name, value in sorted(entries, key=lambda e: e[0]):
        if name in _HOOK_VARS:
            continue
        if is_secret(name, patterns):
            value = REDACTED
        lines.append("%s=%s\n" % (_escape(name), _escape(value)))
    return "".join(lines).encode("utf-8", "replace")


def truncation_marker(omitted, total, limit):
    return ("\n[slurm-job-archive: truncated: %d of %d bytes omitted here "
            "(SLURM_JOB_ARCHIVE_MAX_BYTES=%d)]\n" % (omitted, total, limit)).encode()


def cap_bytes(data, limit):
    """Keep head and tail of data within limit (plus a visible marker)."""
    if len(data) <= limit:
        return data
    head = limit // 2
    tail = limit - head
    return data[:head] + truncation_marker(len(data) - limit, len(data), limit) + \
        (data[-tail:] if tail else b"")


# fields of `scontrol show job` that take the rest of their line (paths, free text)
_LINE_KEYS = ("StdOut", "StdErr", "StdIn", "WorkDir", "Command", "Comment", "AdminComment",
              "SystemComment")
# fields the epilog relies on: each must appear exactly once in the job's record
_TRUSTED_KEYS = ("UserId", "BatchFlag", "BatchHost", "StdOut", "StdErr")


def parse_scontrol_jobs(text):
    """`scontrol show job -dd` output -> list of dicts, one per record (a record starts at a
    line beginning with "JobId=").

    Users choose the job name (first line, after the Slurm-written JobId/ArrayJobId/...
    tokens), the comment, the work dir and the output paths, and Slurm accepts spaces, '='
    and newlines in them. So: the first line's tokens are taken only up to " JobName=" (the
    name is the rest of the line); path and free-text fields take the rest of their line;
    lines are split on "\n" only; and a key seen twice in a record is listed in
    rec["_dups"] (first value kept), which job_record() treats as forged."""
    records = []
    rec = None
    for line in text.split("\n"):
        if line.startswith("JobId="):
            rec = {"_dups": set()}
            records.append(rec)
            head, sep, name = line.partition(" JobName=")
            for tok in head.split(" "):
                k, eq, v = tok.partition("=")
                if eq:
                    _put(rec, k, v)
            if sep:
                rec["JobName"] = name
            continue
        if rec is None:
            continue
        s = line.strip(" ")
        if not s:
            continue
        key, eq, rest = s.partition("=")
        if eq and key in _LINE_KEYS:
            _put(rec, key, rest)
            continue
        for tok in s.split(" "):
            k, eq, v = tok.partition("=")
            if eq:
                _put(rec, k, v)
    return records


def _put(rec, key, value):
    if key in rec:
        rec["_dups"].add(key)
    else:
        rec[key] = value


def pick_job(records, job_id):
    for rec in records:
        if rec.get("JobId") == job_id:
            return rec
    return None


def job_record(text, job_id):
    """(record, problem) for job_id from `scontrol show job -dd` output. problem is None when
    the record can be trusted; otherwise (a user-set field with newlines forged lines) only
    the record's JobId is safe to use."""
    matches = [r for r in parse_scontrol_jobs(text) if r.get("JobId") == job_id]
    if not matches:
        return None, "job %s not in scontrol's output" % job_id
    rec = matches[0]
    if len(matches) > 1:
        return rec, "job %s: %d records in scontrol's output (newline in a user-set field?)" % (
            job_id, len(matches))
    dups = sorted(rec["_dups"].intersection(_TRUSTED_KEYS))
    if dups:
        return rec, "job %s: %s more than once in scontrol's output (newline in a user-set " \
            "field?)" % (job_id, ",".join(dups))
    missing = [k for k in ("UserId", "BatchFlag") if k not in rec]
    if missing:
        return rec, "job %s: no %s in scontrol's output" % (job_id, ",".join(missing))
    return rec, None


def first_host(hostlist):
    """First host of a Slurm hostlist ("cn[003-010,20],gpu1" -> "cn003"); None if unsure."""
    if not hostlist:
        return None
    m = re.match(r"^([^,\[\]]+)(?:\[([0-9,\-]+)\])?(?:,|$)", hostlist)
    if not m:
        return None
    if m.group(2) is None:
        return m.group(1)
    first = re.split(r"[,\-]", m.group(2))[0]
    return m.group(1) + first if first else None


def uid_from_userid(value):
    """'alice(1001)' -> 1001"""
    m = re.match(r"^.*\((\d+)\)$", value or "")
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------- file system


O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_root_dir(path, layout):
    """Open (creating if needed) the root-owned archive root; repair owner/mode."""
    if not os.path.isabs(path):
        raise ArchiveError("archive root must be absolute: %r" % path)
    mode = ROOT_MODES[layout]
    os.makedirs(path, mode, exist_ok=True)
    fd = os.open(path, O_DIR)  # ELOOP if the last component is a symlink

    def repair(st):
        if st.st_uid != 0 or st.st_gid != 0:
            LOG.warning("archive root %s owned by %d:%d, making it root:root" % (
                path, st.st_uid, st.st_gid))
            os.fchown(fd, 0, 0)
        if stat.S_IMODE(st.st_mode) != mode:
            os.fchmod(fd, mode)
        if _was_open(st):
            _take_back_root(fd, path)

    _settle(fd, repair)
    return fd


def _was_open(st):
    """True if someone but root could create or swap entries in this directory so far."""
    return st.st_uid != 0 or bool(stat.S_IMODE(st.st_mode) & 0o022)


def _take_back_root(root_fd, path):
    """The archive root was writable by others: drop anything but folders named like users
    and the flat layout's files of the user they name (see _purge_planted), and take back
    every folder in it that others could write. A folder named like a flat file is no user's:
    it was planted where <root>/job_* looks."""
    _purge_planted(root_fd, path, lambda name, st: _is_flat_file_of_its_user(name, st) or (
        stat.S_ISDIR(st.st_mode) and valid_user(name)
        and parse_archive_entry("flat", name) is None))
    for name in os.listdir(root_fd):
        try:
            st = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode) or not _was_open(st):
                continue
            try:
                pw = pwd.getpwnam(name)
                uid, gid, mode = pw.pw_uid, pw.pw_gid, USER_DIR_MODE
            except KeyError:
                uid, gid, mode = -1, 0, 0o700
            fd = os.open(name, O_DIR, dir_fd=root_fd)
            try:
                os.fchown(fd, 0, gid)
                os.fchmod(fd, mode)
                _purge_planted(fd, os.path.join(path, name), _plain_file_of(uid))
            finally:
                os.close(fd)
        except OSError as e:
            LOG.warning("archive root %s: cannot take back %r: %s" % (path, name, e))


def _plain_file_of(uid):
    """What a user folder keeps when taken back: plain files of `uid` with a single name, or
    one another epilog is writing right now (root's until its fchown)."""
    return lambda name, st: stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and (
        st.st_uid == uid or (st.st_uid == 0 and bool(TEMP_NAME_RE.fullmatch(name))))


def _is_flat_file_of_its_user(name, st):
    """A plain single-name file whose flat name (or temp name) names the user owning it."""
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        return False
    temp = TEMP_NAME_RE.fullmatch(name)
    if temp and st.st_uid == 0:
        return True
    parsed = parse_archive_entry("flat", temp.group("name") if temp else name)
    try:
        return parsed is not None and pwd.getpwnam(parsed[1]).pw_uid == st.st_uid
    except KeyError:
        return False


def _purge_planted(dir_fd, where, keep):
    """A directory others could write until now (it is root's now): remove every entry but
    those `keep(name, lstat)` accepts. Symlinks, FIFOs, sockets, directories, hard links and
    other owners' files may have been planted for root, or for the log agent that reads the
    archive as root, to follow or hang on."""
    planted = []
    for name in os.listdir(dir_fd):  # decide on one snapshot (removals change link counts)
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue
        if not keep(name, st):
            planted.append((name, st.st_ino))
    for name, ino in planted:
        try:  # renamed over since the snapshot (a hook that found the folder closed): keep it
            if os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_ino != ino:
                continue
        except FileNotFoundError:
            continue
        LOG.warning("removing %r from %s (planted while others could write there)" % (
            name, where))
        try:
            _remove_tree_at(dir_fd, name)
        except (OSError, RecursionError) as e:
            LOG.warning("%s: cannot remove %r: %s" % (where, name, e))


def open_user_dir(root_fd, user, gid, uid=None):
    """<root>/<user>: root:<gid> 0750 so the user can read but never create or swap entries.
    A folder others could write so far (the seed's user-owned layout) is taken back and
    emptied of anything but the user's plain files."""
    try:
        os.mkdir(user, USER_DIR_MODE, dir_fd=root_fd)
    except FileExistsError:
        st = os.stat(user, dir_fd=root_fd, follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            LOG.warning("replacing non-directory %r in archive root" % user)
            os.unlink(user, dir_fd=root_fd)
            os.mkdir(user, USER_DIR_MODE, dir_fd=root_fd)
    fd = os.open(user, O_DIR, dir_fd=root_fd)

    def repair(st):
        if (st.st_uid, st.st_gid) != (0, gid):
            os.fchown(fd, 0, gid)
        if stat.S_IMODE(st.st_mode) != USER_DIR_MODE:
            os.fchmod(fd, USER_DIR_MODE)
        if _was_open(st):
            _purge_planted(fd, user, _plain_file_of(-1 if uid is None else uid))

    _settle(fd, repair)
    return fd


@contextlib.contextmanager
def _flock(fd, exclusive, wait=2.0):
    """Best effort flock, released on leaving: anyone who can read the directory can hold one,
    so give up after `wait` seconds (and where the file system has no flock)."""
    import fcntl

    deadline = time.monotonic() + wait
    held = False
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
            held = True
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        except OSError:
            break
    try:
        yield held
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)


def _settle(fd, repair):
    """A folder others could write so far is taken back by one hook at a time, under an
    exclusive lock (`repair(st)` with the folder's state once the lock is held). Every other
    hook waits on a shared lock before it writes: a purge decides on a snapshot of names, and
    must not unlink a file that another hook, seeing the folder already closed, has just
    renamed over a planted one."""
    if _was_open(os.fstat(fd)):
        with _flock(fd, exclusive=True):
            repair(os.fstat(fd))
    else:
        with _flock(fd, exclusive=False):
            pass
        repair(os.fstat(fd))


def write_archive_file(dir_fd, name, data, uid, gid):
    """Write via a fresh O_EXCL|O_NOFOLLOW temp file, then rename over <name>: an existing
    entry (even a symlink) is replaced, never followed."""
    tmp = ".%s.%d.tmp" % (name, os.getpid())
    try:
        os.unlink(tmp, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 FILE_MODE, dir_fd=dir_fd)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except OSError:
            pass
        raise
    os.close(fd)
    try:
        os.rename(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError:
        os.unlink(tmp, dir_fd=dir_fd)
        raise


_READ_ERRORS = {
    10: "not a regular file",
    11: "not owned by the job user",
    12: "cannot drop privileges",
    13: "symlink refused",
    14: "no such file",
    15: "permission denied",
    16: "open failed",
}


def _read_capped(fd, size, limit):
    def read_n(n):
        chunks = []
        while n > 0:
            b = os.read(fd, min(n, 1 << 20))
            if not b:
                break
            chunks.append(b)
            n -= len(b)
        return b"".join(chunks)

    if size <= limit:
        data = read_n(limit)
        if len(data) == limit and os.read(fd, 1):  # grew while we read
            return data + ("\n[slurm-job-archive: truncated: the file grew past "
                           "SLURM_JOB_ARCHIVE_MAX_BYTES=%d]\n" % limit).encode()
        return data
    head_n = limit // 2
    tail_n = limit - head_n
    head = read_n(head_n)
    os.lseek(fd, size - tail_n, os.SEEK_SET)
    tail = read_n(tail_n)
    return head + truncation_marker(size - limit, size, limit) + tail


_CHILDREN = set()  # reader children not yet reaped


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def read_as_user(path, uid, gid, groups, limit, timeout):
    """Read a file a user controls, as that user, in a forked child: the open uses the user's
    own permissions and O_NOFOLLOW, and the file must be a regular file owned by uid. Returns
    bytes (capped with a marker); raises ArchiveError with the reason otherwise."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        code = 16
        try:
            os.close(r)
            try:
                if os.getuid() == 0:
                    os.setgroups(groups)
                    os.setresgid(gid, gid, gid)
                    os.setresuid(uid, uid, uid)
                if os.geteuid() != uid:
                    os._exit(12)
            except OSError:
                os._exit(12)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                             | os.O_CLOEXEC)
            except OSError as e:
                os._exit({errno.ELOOP: 13, errno.ENOENT: 14, errno.EACCES: 15,
                          errno.EPERM: 15}.get(e.errno, 16))
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                os._exit(10)
            if st.st_uid != uid:
                os._exit(11)
            data = _read_capped(fd, st.st_size, limit)
            view = memoryview(data)
            while view:
                n = os.write(w, view)
                view = view[n:]
            code = 0
        except BaseException:
            code = 16
        finally:
            os._exit(code)
    os.close(w)
    _CHILDREN.add(pid)
    chunks = []
    deadline = time.monotonic() + timeout
    done = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ArchiveError("timed out reading %s" % path)
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            b = os.read(r, 1 << 20)
            if not b:
                break
            chunks.append(b)
        done = True
    finally:
        os.close(r)
        if not done:  # timed out, or the run's budget ran out: never wait for a stuck read
            _kill(pid)
        _, status = os.waitpid(pid, 0)
        _CHILDREN.discard(pid)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128
    if code != 0:
        raise ArchiveError("%s: %s" % (path, _READ_ERRORS.get(code, "exit %d" % code)))
    return b"".join(chunks)


# --------------------------------------------------------------------------- slurm


def run_scontrol(settings, args, timeout):
    env = {"PATH": SAFE_PATH, "LC_ALL": "C"}
    conf = settings.get("SLURM_JOB_ARCHIVE_SLURM_CONF") or os.environ.get("SLURM_CONF")
    if conf:
        env["SLURM_CONF"] = conf
    proc = subprocess.run([settings["SLURM_JOB_ARCHIVE_SCONTROL"]] + args, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise ArchiveError("scontrol %s failed (%d): %s" % (
            " ".join(args), proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))
    return proc.stdout


def read_statesave_env(state_dir, job_id):
    """The submitted environment slurmctld keeps (until MinJobAge) at
    <StateSaveLocation>/hash.<id % 10>/job.<id>/environment; array tasks share the array
    job's. Read as root, never through a symlink, only if owned like the state directory."""
    if not valid_jobid(job_id):
        raise ArchiveError("invalid job id %r" % (job_id,))
    owner = os.stat(state_dir).st_uid
    path = os.path.join(state_dir, "hash.%d" % (int(job_id) % 10), "job.%s" % job_id,
                        "environment")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != owner:
            raise ArchiveError("%s: not a regular file owned by the SlurmUser" % path)
        data = _read_capped(fd, st.st_size, 64 * 1024 * 1024)
    finally:
        os.close(fd)
    return parse_statesave_environment(data)


class Job:
    """What the hook environment tells us, validated before it touches a path."""

    def __init__(self, env):
        self.job_id = env.get("SLURM_JOB_ID", "")
        self.user = env.get("SLURM_JOB_USER", "")
        uid = env.get("SLURM_JOB_UID", "")
        gid = env.get("SLURM_JOB_GID", "")
        if not valid_jobid(self.job_id):
            raise ArchiveError("invalid SLURM_JOB_ID %r" % self.job_id)
        if not valid_user(self.user):
            raise ArchiveError("invalid SLURM_JOB_USER %r" % self.user)
        if not valid_id(uid) or not valid_id(gid):
            raise ArchiveError("invalid SLURM_JOB_UID/GID %r/%r" % (uid, gid))
        self.uid, self.gid = int(uid), int(gid)
        self.primary_gid = self.gid
        self.groups = [self.gid]
        try:
            pw = pwd.getpwnam(self.user)
        except KeyError:
            pw = None
        if pw is not None:
            if pw.pw_uid != self.uid:
                raise ArchiveError("user %s is uid %d, Slurm says %d" % (
                    self.user, pw.pw_uid, self.uid))
            self.primary_gid = pw.pw_gid
            try:
                self.groups = sorted(set(os.getgrouplist(self.user, pw.pw_gid)))
            except OSError:
                self.groups = [pw.pw_gid]
        self.node = env.get("SLURMD_NODENAME", "")
        self.nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST") or ""


def spool_job_dir(settings, job):
    spool = settings["SLURM_JOB_ARCHIVE_SPOOL"]
    if not os.path.isabs(spool):
        raise ArchiveError("spool must be absolute: %r" % spool)
    return spool, os.path.join(spool, job.job_id)


def do_prolog(settings, env):
    job = Job(env)
    spool, _ = spool_job_dir(settings, job)
    os.makedirs(spool, SPOOL_MODE, exist_ok=True)
    sfd = os.open(spool, O_DIR)
    try:
        st = os.fstat(sfd)
        if st.st_uid != 0 or st.st_gid != 0:
            os.fchown(sfd, 0, 0)
        if stat.S_IMODE(st.st_mode) != SPOOL_MODE:
            os.fchmod(sfd, SPOOL_MODE)
        _remove_tree_at(sfd, job.job_id)  # leftovers of a requeued run
        # <spool>/<jobid>/ is root's; the user gets the one file "env" in it, so a job can't
        # create entries (or trees too deep to remove) on /run, only write that file
        os.mkdir(job.job_id, SPOOL_MODE, dir_fd=sfd)
        jfd = os.open(job.job_id, O_DIR, dir_fd=sfd)
        try:
            os.fchmod(jfd, SPOOL_MODE)
            fd = os.open("env", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600, dir_fd=jfd)
            try:
                os.fchown(fd, job.uid, job.gid)
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)
        finally:
            os.close(jfd)
    finally:
        os.close(sfd)


def _remove_tree_at(parent_fd, name):
    """rm -rf parent/name without following symlinks (the tree is user-writable)."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return
    fd = os.open(name, O_DIR, dir_fd=parent_fd)
    try:
        for entry in os.listdir(fd):
            _remove_tree_at(fd, entry)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def do_epilog(settings, env):
    t0 = time.monotonic()
    job = Job(env)
    timeout = float(settings["SLURM_JOB_ARCHIVE_TIMEOUT"])
    limit = int(settings["SLURM_JOB_ARCHIVE_MAX_BYTES"])
    spool, staged = spool_job_dir(settings, job)

    staged_env = None
    try:
        try:
            staged_env = read_as_user(os.path.join(staged, "env"), job.uid, job.gid, job.groups,
                                      limit, timeout) or None  # empty: no TaskProlog ran
        except ArchiveError as e:
            if "no such file" not in str(e):
                LOG.warning("job %s: staged environment not used: %s" % (job.job_id, e))
        first = first_host(job.nodelist)
        if job.node and first and first != job.node:
            return  # another node (the batch host) archives this job
        _archive(settings, job, staged_env, limit, timeout, t0)
    finally:
        try:
            sfd = os.open(spool, O_DIR)
            try:
                _remove_tree_at(sfd, job.job_id)
            finally:
                os.close(sfd)
        except FileNotFoundError:
            pass


def _archive(settings, job, staged_env, limit, timeout, t0):
    layout = archive_layout(settings)
    text = run_scontrol(settings, ["show", "job", "-dd", job.job_id], timeout)
    rec, untrusted = job_record(text.decode("utf-8", "replace"), job.job_id)
    if rec is None:
        raise ArchiveError(untrusted)
    problems = []
    if untrusted:
        # forged lines: keep what comes from elsewhere (script, staged env) under the plain
        # job id; the record's paths, host, flags and array ids are not used
        problems.append("%s; .out/.err not archived" % untrusted)
        rec = {"JobId": job.job_id, "BatchFlag": "?"}
    rec_uid = uid_from_userid(rec.get("UserId"))
    if rec_uid is not None and rec_uid != job.uid:
        raise ArchiveError("job %s: scontrol uid %d != SLURM_JOB_UID %d" % (
            job.job_id, rec_uid, job.uid))
    batch_host = rec.get("BatchHost")
    if job.node and batch_host and batch_host != job.node:
        return
    base = archive_base(job.job_id, rec.get("ArrayJobId"), rec.get("ArrayTaskId"))
    patterns = parse_redact_patterns(settings["SLURM_JOB_ARCHIVE_REDACT"])

    files = {}
    if rec.get("BatchFlag") != "0":
        try:
            script = run_scontrol(settings, ["write", "batch_script", job.job_id, "-"], timeout)
            if script:  # empty (exit 0) for a job without a script
                files[".sh"] = cap_bytes(script, limit)
        except (ArchiveError, subprocess.TimeoutExpired) as e:
            problems.append("script: %s" % e)
    entries = None
    if staged_env is not None:
        entries = parse_environ(staged_env)
    elif settings.get("SLURM_JOB_ARCHIVE_STATESAVE"):
        try:
            entries = read_statesave_env(settings["SLURM_JOB_ARCHIVE_STATESAVE"],
                                         rec.get("ArrayJobId") or job.job_id)
        except (OSError, ArchiveError) as e:
            problems.append("environment from StateSaveLocation: %s" % e)
    if entries is not None:
        files[".env"] = cap_bytes(format_env(entries, patterns), limit)
    stdout = rec.get("StdOut") or ""
    stderr = rec.get("StdErr") or ""
    for suffix, path in ((".out", stdout), (".err", stderr)):
        if not path or (suffix == ".err" and path == stdout):
            continue  # stdout and stderr in one file: archived once, as .out
        if not os.path.isabs(path) or "\n" in path or path.startswith("/dev/"):
            continue
        try:
            files[suffix] = read_as_user(path, job.uid, job.gid, job.groups, limit, timeout)
        except ArchiveError as e:
            problems.append(str(e))

    written = []
    root = settings["SLURM_JOB_ARCHIVE_ROOT"]
    root_fd = open_root_dir(root, layout)
    try:
        dir_fd = root_fd if layout == "flat" else open_user_dir(
            root_fd, job.user, job.primary_gid, job.uid)
        try:
            for suffix in sorted(files):
                name = archive_entry(layout, base, job.user, suffix[1:]).rsplit("/", 1)[-1]
                try:
                    write_archive_file(dir_fd, name, files.pop(suffix), job.uid,
                                       job.primary_gid)
                    written.append(suffix[1:])
                except OSError as e:
                    LOG.error("job %s: cannot write %s: %s" % (job.job_id, name, e))
        finally:
            if dir_fd != root_fd:
                os.close(dir_fd)
    finally:
        os.close(root_fd)
    for p in problems:
        LOG.warning("job %s: %s" % (job.job_id, p))
    LOG.info("job %s: archived as %s in %d ms" % (
        job.job_id, os.path.join(root, archive_entry(
            layout, base, job.user, "{%s}" % ",".join(written))),
        (time.monotonic() - t0) * 1000))


# --------------------------------------------------------------------------- retention


def do_retention(settings, days, dry_run=False, now=None, out=sys.stdout):
    """Remove archive files (and stray temp files / symlinks under their names) older than
    `days` days. Both layouts' names are looked for, whichever is set: after a switch of
    SLURM_JOB_ARCHIVE_LAYOUT the other one's files age out too. Never follows a link, never
    enters a symlinked folder."""
    root = settings["SLURM_JOB_ARCHIVE_ROOT"]
    cutoff = (now if now is not None else time.time()) - days * 86400
    counts = {"removed": 0, "kept": 0}

    def expire(dir_fd, name, layout, shown):
        if not (NAME_RES[layout].fullmatch(name) or TEMP_NAME_RE.fullmatch(name)):
            return
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode) or st.st_mtime >= cutoff:
            counts["kept"] += 1
            return
        if not dry_run:
            os.unlink(name, dir_fd=dir_fd)
        counts["removed"] += 1
        print("%s %s" % ("would remove" if dry_run else "removed", shown), file=out)

    root_fd = os.open(root, O_DIR)
    try:
        for name in sorted(os.listdir(root_fd)):
            try:
                is_dir = stat.S_ISDIR(os.stat(name, dir_fd=root_fd,
                                              follow_symlinks=False).st_mode)
            except FileNotFoundError:
                continue
            if not is_dir:
                expire(root_fd, name, "flat", os.path.join(root, name))
                continue
            try:
                ufd = os.open(name, O_DIR, dir_fd=root_fd)
            except OSError as e:
                LOG.warning("retention: skipping %s: %s" % (name, e))
                continue
            try:
                for entry in sorted(os.listdir(ufd)):
                    expire(ufd, entry, "per-user", os.path.join(root, name, entry))
            finally:
                os.close(ufd)
    finally:
        os.close(root_fd)
    LOG.info("retention: %s %d files older than %g days under %s, kept %d" % (
        "would remove" if dry_run else "removed", counts["removed"], days, root,
        counts["kept"]))
    return counts["removed"]


# --------------------------------------------------------------------------- main


USAGE = """usage: slurm_job_archive.py [--config FILE] [prolog|epilog|retention [--days N] [--dry-run]]

Without a subcommand the mode is taken from SLURM_SCRIPT_CONTEXT (prolog_slurmd/epilog_slurmd).
Default config: %s
""" % DEFAULT_CONFIG


def main(argv=None, env=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    config = DEFAULT_CONFIG
    if argv[:1] == ["--config"] and len(argv) >= 2:
        config = argv[1]
        argv = argv[2:]
    elif argv and argv[0].startswith("--config="):
        config = argv[0].split("=", 1)[1]
        argv = argv[1:]
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    mode = argv[0] if argv else {"prolog_slurmd": "prolog", "epilog_slurmd": "epilog"}.get(
        env.get("SLURM_SCRIPT_CONTEXT", ""), "")

    if mode == "retention":
        settings = load_settings(config)
        LOG.set_file(settings.get("SLURM_JOB_ARCHIVE_LOG_FILE"))
        dry_run = "--dry-run" in argv
        try:
            days = float(settings["SLURM_JOB_ARCHIVE_RETENTION_DAYS"])
            if "--days" in argv:
                days = float(argv[argv.index("--days") + 1])
            if days < 0:
                raise ValueError("negative")
        except (ValueError, IndexError):
            print("retention: --days needs a number of days >= 0\n" + USAGE, file=sys.stderr)
            return 2
        try:
            archive_layout(settings)  # a typo there would break the next epilogs: say so now
        except ArchiveError as e:
            print("retention: %s" % e, file=sys.stderr)
            return 2
        try:
            do_retention(settings, days, dry_run)
        except Exception as e:
            LOG.error("retention failed: %s" % e)
            print("retention failed: %s" % e, file=sys.stderr)
            return 1
        return 0

    if mode not in ("prolog", "epilog"):
        if env.get("SLURM_SCRIPT_CONTEXT"):
            return 0  # e.g. installed as PrologSlurmctld by mistake: do no harm
        print(USAGE, file=sys.stderr)
        return 2

    # Slurm hook: whatever happens, exit 0 so the node is never drained because of us.
    try:
        settings = load_settings(config)
        LOG.set_file(settings.get("SLURM_JOB_ARCHIVE_LOG_FILE"))
        budget = max(1, int(float(settings["SLURM_JOB_ARCHIVE_TIMEOUT"]) * 4))

        fired = []

        def _alarm(signum, frame):
            # First: abandon the run (finally blocks clean up). If that clean-up is itself
            # stuck GRACE_SECONDS later (a blocking file system): kill our readers, exit 0.
            if len(fired) > 1:
                os._exit(0)
            if fired:
                fired.append(signum)
                for pid in list(_CHILDREN):
                    _kill(pid)
                signal.alarm(1)  # in case logging blocks too
                LOG.error("%s for job %s: gave up after %d s, clean-up blocked too: exiting" % (
                    mode, env.get("SLURM_JOB_ID", "?"), budget))
                os._exit(0)
            fired.append(signum)
            signal.alarm(GRACE_SECONDS)
            raise ArchiveError("gave up after %d s" % budget)

        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(budget)
        os.umask(0o022)  # files get explicit modes; this keeps created parent dirs traversable
        if mode == "prolog":
            do_prolog(settings, env)
        else:
            do_epilog(settings, env)
    except BaseException as e:  # noqa: BLE001 - a hook must never fail the job or node
        LOG.error("%s for job %s failed: %s: %s" % (
            mode, env.get("SLURM_JOB_ID", "?"), type(e).__name__, e))
    finally:
        signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
