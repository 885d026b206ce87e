"""An in-memory Log Analytics workspace for the KQL cookbook tests.

Tables have the `{pattern}_raw_CL` schema the Azure Monitor Agent (AMA) fills from text files:
TimeGenerated (datetime, UTC), RawData (one line of the file), Computer (the VM's host name),
FilePath (the file's path). Every file becomes one row per line, as AMA's `logFiles` source does.

- `slurmjobs_raw_CL`: archive files whose names and contents come from the real job archive
  program (`slurm/slurm_job_archive.py`: `archive_base` and `archive_entry` in the layout the
  workspace is built for, flat by default, `parse_environ`, `format_env` with the default
  redaction patterns, `cap_bytes` with its truncation marker), so a change of the archive
  format changes what the queries see. AMA runs on the scheduler for this DCR, so Computer is
  the scheduler's name for every job.
- `slurmctld_raw_CL`: a real slurmctld.log (Slurm 22.05.8, `tests/kql/data/slurmctld.log`,
  captured from the single-node cluster of `tests/slurm`), the two sample lines of the reference
  document, and per-job lines in the same format for the synthetic jobs.
- `slurmd_raw_CL`: slurmd lines in the real format (`tests/kql/data/slurmd.log`) on the nodes.
- `syslog_raw_CL`: Debian 12 rsyslog lines (RFC 3339 timestamps, `RSYSLOG_FileFormat`) and one
  Ubuntu 22.04-style host (`RSYSLOG_TraditionalFileFormat`: `Sep  8 21:11:35`).

Beside them, the parsed tables `slurmctld_CL`, `slurmd_CL`, `syslog_CL` and `slurmjobs_CL` hold the
same lines in the parsed tables' columns (`tests/kql/parsed_rows.py`), and a query may call the
workspace functions of `controller/functions.py`, put in as the simulator does
(`controller/simulator/kql_functions.py`).

The engine is duckdb-kql (KQL translated to DuckDB SQL). It refuses one valid KQL construct that
two seed queries use: a `parse` pattern that starts with a column (`parse RawData with EnvVar "="
EnvValue`; the Kusto docs: "The parse pattern can start with ColumnName"). `run()` first runs a
query verbatim and, only when the engine refuses exactly that, rewrites that `parse` into an
equivalent one anchored on a marker put in front of the string, and records that it did.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import pathlib
import re

from controller.components import load_components
from controller.functions import desired_functions
from controller.simulator.kql_functions import Function, expand, parse_parameters
from tests.kql import parsed_rows
from tests.support import unavailable

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(__file__).resolve().parent / "data"
DOC = ROOT / "docs" / "queries.md"

SCHEDULER = "ccw-scheduler"
TABLES = ("slurmjobs_raw_CL", "slurmctld_raw_CL", "slurmd_raw_CL", "syslog_raw_CL")
FUNCTIONS = {f.function_alias: Function(f.function_alias, parse_parameters(f.function_parameters), f.query)
             for f in desired_functions(load_components(), "workspace", None)}

# SLURM_JOB_ARCHIVE_MAX_BYTES for the large-output job: small so the test stays fast; the
# program's default is 10 MiB.
SMALL_MAX_BYTES = 4096


def engine():
    """duckdb_kql, or skip (fail under CI=true) when it or DuckDB is missing."""
    try:
        import duckdb  # noqa: F401
        import duckdb_kql
    except ImportError as e:
        unavailable("KQL engine missing (pip install 'duckdb-kql[duckdb]'): %s" % e)
    return duckdb_kql


def load_archive_module():
    """slurm/slurm_job_archive.py is a script, not a package: load it from its path."""
    spec = importlib.util.spec_from_file_location(
        "slurm_job_archive_for_kql", ROOT / "slurm" / "slurm_job_archive.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- the doc


_MARKER = re.compile(r"<!--\s*kql:\s*([\w-]+)\s*-->\s*\n```kql\n(.*?)\n```", re.S)


def doc_queries(path=DOC):
    """{name: query} for every ```kql block of docs/queries.md, each preceded by
    `<!-- kql: name -->`. A block without a name is an error (it would go untested)."""
    text = path.read_text()
    found = {}
    for m in _MARKER.finditer(text):
        assert m.group(1) not in found, "duplicate query name %s" % m.group(1)
        found[m.group(1)] = m.group(2)
    blocks = len(re.findall(r"^```kql$", text, re.M))
    assert blocks == len(found), "%d ```kql blocks but %d named ones" % (blocks, len(found))
    return found


def split_statements(block):
    """A block holding several queries separated by blank lines -> the queries."""
    return [s.strip() for s in re.split(r"\n\s*\n", block) if s.strip()]


# --------------------------------------------------------------------------- the engine shim


def _split_pipes(query):
    """Split a query on the top-level `|` (not inside "..." / @"..." strings)."""
    parts, cur, i, n = [], [], 0, len(query)
    while i < n:
        c = query[i]
        if c == "@" and i + 1 < n and query[i + 1] == '"':
            j = query.index('"', i + 2)
            while j + 1 < n and query[j + 1] == '"':  # "" inside a verbatim string
                j = query.index('"', j + 2)
            cur.append(query[i:j + 1])
            i = j + 1
            continue
        if c == '"':
            j = i + 1
            while query[j] != '"':
                j += 2 if query[j] == "\\" else 1
            cur.append(query[i:j + 1])
            i = j + 1
            continue
        if c == "|":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


_LEADING_COLUMN_PARSE = re.compile(
    r"^(?P<ws>\s*)parse\s+(?P<src>[A-Za-z_]\w*)\s+with\s+(?P<col>[A-Za-z_]\w*(?:\s*:\s*\w+)?)"
    r"\s+(?P<rest>\".*)$", re.S)
_ANCHOR = "\\u0001"  # a character no log line holds: only at position 0 after the strcat


def shim_leading_column_parse(query):
    """`parse X with Col "lit" ...` (valid KQL, refused by duckdb-kql 1.1.2) -> the same match
    anchored on a marker at the start of X: `extend _sol = strcat(M, X) | parse _sol with M Col
    "lit" ... | project-away _sol`. Kusto matches a leading column from the start of the string,
    which is what the marker (found only at position 0) gives."""
    parts = _split_pipes(query)
    out = []
    for p in parts:
        m = _LEADING_COLUMN_PARSE.match(p)
        if not m:
            out.append(p)
            continue
        out.append('%sextend _sol = strcat("%s", %s) ' % (m["ws"], _ANCHOR, m["src"]))
        out.append(' parse _sol with "%s" %s %s ' % (_ANCHOR, m["col"], m["rest"].rstrip()))
        out.append(" project-away _sol" + p[len(p.rstrip()):])
    return "|".join(out)


class Workspace:
    def __init__(self, kql, con, now):
        self.kql = kql
        self.con = con
        self.now = now
        self.shimmed = []  # queries that needed the leading-column parse shim

    def run(self, query):
        """Run a KQL query; the result as a list of dicts (column order kept in .columns)."""
        from duckdb_kql.errors import KqlUnsupportedError

        query = expand(query, FUNCTIONS)
        try:
            rel = self.kql.query(self.con, query)
        except KqlUnsupportedError as e:
            if "'parse'" not in str(e) or not _has_leading_column_parse(query):
                raise
            rel = self.kql.query(self.con, shim_leading_column_parse(query))
            self.shimmed.append(query)
        return Result(rel.columns, rel.fetchall())


def _has_leading_column_parse(query):
    return any(_LEADING_COLUMN_PARSE.match(p) for p in _split_pipes(query))


class Result(list):
    def __init__(self, columns, rows):
        super().__init__(dict(zip(columns, r)) for r in rows)
        self.columns = list(columns)

    def col(self, name):
        return [r[name] for r in self]


# --------------------------------------------------------------------------- the data


def ama_rows(path, content, computer, t0):
    """What AMA makes of one text file: a row per line (no row for the final newline), lines
    collected in order a microsecond apart (Log Analytics keeps no line number)."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [(t0 + dt.timedelta(microseconds=i), line, computer, path)
            for i, line in enumerate(lines)]


def environ(pairs):
    """What the TaskProlog stages: `env -0` output."""
    return b"".join(("%s=%s" % kv).encode() + b"\0" for kv in pairs)


def slurm_env(job_id, user, node, extra=(), array=None):
    pairs = [
        ("HOME", "/home/%s" % user), ("LANG", "C.UTF-8"), ("LOGNAME", user),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"), ("SHELL", "/bin/bash"), ("USER", user),
        ("SLURMD_NODENAME", node), ("SLURM_CLUSTER_NAME", "ccw"),
        ("SLURM_CONF", "/etc/slurm/slurm.conf"), ("SLURM_CPUS_ON_NODE", "4"),
        ("SLURM_JOBID", job_id), ("SLURM_JOB_ID", job_id), ("SLURM_JOB_NAME", "run.sh"),
        ("SLURM_JOB_NODELIST", node), ("SLURM_JOB_PARTITION", "hpc"),
        ("SLURM_JOB_USER", user), ("SLURM_NNODES", "1"), ("SLURM_SUBMIT_HOST", SCHEDULER),
        ("SLURM_WORKING_CLUSTER", "ccw:%s:6817:9728:109" % SCHEDULER),
        ("SLURM_SCRIPT_CONTEXT", "prolog_task"),  # the TaskProlog's own: the archive drops it
    ]
    if array:
        pairs += [("SLURM_ARRAY_JOB_ID", array[0]), ("SLURM_ARRAY_TASK_ID", array[1])]
    return pairs + list(extra)


# The jobs: (user, job id, array (array job id, task id) or None, node, minutes ago, files)
# where files maps a suffix to bytes, or "env" to the staged environment's (name, value) pairs.
def jobs(sja):
    big = "".join("step %05d residual=0.%06d\n" % (i, i * 37 % 999999) for i in range(400))
    return [
        dict(user="alice", job="101", node="ccw-hpc-1", ago=25, files={
            ".sh": "#!/bin/bash\n#SBATCH -o job_%j.out\n#SBATCH -e job_%j.err\n"
                   "srun hostname\necho done\n",
            ".out": "ccw-hpc-1\ndone\n",
            ".err": "warning: no config file, using defaults\n",
        }),
        dict(user="alice", job="102", node="ccw-hpc-2", ago=20, files={
            ".sh": "#!/bin/bash\n#SBATCH -o job_%j.out\n#SBATCH -e job_%j.err\n"
                   "module load mpi\nsrun python train.py --epochs 10\n",
            ".out": "epoch 1 loss=2.31\nepoch 2 loss=1.87\n",
            ".err": "Traceback (most recent call last):\n"
                    "  File \"train.py\", line 41, in <module>\n"
                    "RuntimeError: CUDA error: out of memory\n"
                    "srun: error: ccw-hpc-2: task 0: Exited with exit code 1\n"
                    "Checkpoint save failed: /scratch/alice/ckpt: No space left on device\n",
        }),
        dict(user="alice", job="107", array=("103", "4"), node="ccw-hpc-1", ago=15, files={
            ".sh": "#!/bin/bash\n#SBATCH -a 1-8\n#SBATCH -o arr_%A_%a.out\n"
                   "echo task $SLURM_ARRAY_TASK_ID\n",
            ".out": "task 4\n",
        }),
        dict(user="bob", job="104", node="ccw-hpc-1", ago=12, env_extra=[
            ("DB_PASSWORD", "hunter2-db"), ("MY_API_TOKEN", "tok-123456"),
            ("AZURE_CLIENT_SECRET", "azs-0123456789"), ("PLAIN_SETTING", "plain-visible"),
            ("NOTE", "line one\nline two"),
        ], files={
            ".sh": "#!/bin/bash\n#SBATCH -o job_%j.out\nexport DB_PASSWORD\n./query-db\n",
            ".out": "connected\n3 rows\n",
        }),
        dict(user="bob", job="105", node="ccw-hpc-3", ago=10, max_bytes=SMALL_MAX_BYTES, files={
            ".sh": "#!/bin/bash\n#SBATCH -o job_%j.out\n./solver\n",
            ".out": "solver start\n" + big + "solver converged\n",
        }),
        # stdout and stderr in one file (sbatch's default): archived as .out only, no .err
        dict(user="carol", job="106", node="ccw-hpc-3", ago=5, files={
            ".sh": "#!/bin/bash\n#SBATCH -t 1\n./long-simulation\n",
            ".out": "simulation step 1\n"
                    "slurmstepd: error: *** JOB 106 ON ccw-hpc-3 CANCELLED AT "
                    "2025-09-08T21:40:00 DUE TO TIME LIMIT ***\n",
        }),
        # first.last user names are common where users come from a directory
        dict(user="a.shah", job="201", node="ccw-hpc-2", ago=8, files={
            ".sh": "#!/bin/bash\n#SBATCH -o job_%j.out\n./analyze\n",
            ".out": "analysis written to results.csv\n",
        }),
        dict(user="r.errington", job="202", node="ccw-hpc-2", ago=8, files={
            ".sh": "#!/bin/bash\n#SBATCH -o job_%j.out\n./lint-data\n",
            ".out": "checked 120 files, 0 errors\n",
        }),
        # a service account whose name contains "job_"
        dict(user="job_runner", job="301", node="ccw-hpc-2", ago=7, files={
            ".sh": "#!/bin/bash\n#SBATCH -o job_%j.out\n./nightly\n",
            ".out": "nightly ok\n",
        }),
        # archived two days ago: outside every "last day" query
        dict(user="alice", job="90", node="ccw-hpc-1", ago=2 * 24 * 60, files={
            ".sh": "#!/bin/bash\necho old\n",
            ".out": "old\n",
            ".err": "error: this old job failed\n",
        }),
    ]


def archive_parts(sja, job):
    """{suffix: bytes} exactly as the archive program formats the job's files."""
    patterns = sja.parse_redact_patterns(sja.DEFAULTS["SLURM_JOB_ARCHIVE_REDACT"])
    limit = job.get("max_bytes", int(sja.DEFAULTS["SLURM_JOB_ARCHIVE_MAX_BYTES"]))
    staged = environ(slurm_env(job["job"], job["user"], job["node"], job.get("env_extra", ()),
                               job.get("array")))
    files = {".env": sja.cap_bytes(sja.format_env(sja.parse_environ(staged), patterns), limit)}
    for suffix, text in job["files"].items():
        files[suffix] = sja.cap_bytes(text.encode(), limit)
    return files


def archive_files(sja, job, layout):
    """{path: bytes} exactly as the archive program names them, in the order it writes them
    (sorted by suffix: .env, .err, .out, .sh)."""
    base = sja.archive_base(job["job"], *(job.get("array") or (None, None)))
    root = sja.DEFAULTS["SLURM_JOB_ARCHIVE_ROOT"]
    return {"%s/%s" % (root, sja.archive_entry(layout, base, job["user"], suffix[1:])): content
            for suffix, content in sorted(archive_parts(sja, job).items())}


def archive(sja, layout):
    """Every archived file: dicts of user, job (the id users see: `103_4` for an array task),
    part (sh, env, out, err), path, content (bytes), lines, ago (minutes)."""
    out = []
    for job in jobs(sja):
        parts = sorted(archive_parts(sja, job))
        for suffix, (path, content) in zip(parts, archive_files(sja, job, layout).items()):
            out.append(dict(user=job["user"], job="_".join(job.get("array") or [job["job"]]),
                            part=suffix[1:], path=path, content=content,
                            lines=content.decode().split("\n")[:-1], ago=job["ago"],
                            source=job))
    return out


def job_end(now, job):
    return now - dt.timedelta(minutes=job["ago"])


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d" % (t.microsecond // 1000)


def slurmjobs_rows(sja, now, layout):
    rows = []
    for job in jobs(sja):
        t = job_end(now, job) + dt.timedelta(seconds=2)  # the epilog, then AMA's pick-up
        for k, (path, content) in enumerate(archive_files(sja, job, layout).items()):
            rows += ama_rows(path, content, SCHEDULER, t + dt.timedelta(milliseconds=10 * k))
    return rows


def slurmctld_rows(sja, now):
    path = "/var/log/slurmctld/slurmctld.log"
    real = (DATA / "slurmctld.log").read_text()
    rows = ama_rows(path, real, SCHEDULER, now - dt.timedelta(hours=3))
    # the reference document's two sample lines
    rows += ama_rows(path, "[2025-09-08T21:11:35.869] debug:  sched/backfill: _attempt_backfill: "
                     "no jobs to backfill\n[2025-09-08T21:12:05.013] debug:  sackd_mgr_dump_state:"
                     " saved state of 0 nodes\n", SCHEDULER, now - dt.timedelta(hours=2))
    exit_codes = {"102": 1, "106": 0}
    for job in jobs(sja):
        end = job_end(now, job)
        start = end - dt.timedelta(minutes=1)
        jid = job["job"]
        shown = "%s_%s(%s)" % (job["array"][0], job["array"][1], jid) if "array" in job else jid
        lines = [
            (start - dt.timedelta(seconds=30), "_slurm_rpc_submit_batch_job: JobId=%s "
             "InitPrio=4294901759 usec=230" % (job["array"][0] if "array" in job else jid)),
            (start, "sched: Allocate JobId=%s NodeList=%s #CPUs=1 Partition=hpc"
             % (shown, job["node"])),
            (end, "_job_complete: JobId=%s WEXITSTATUS %d" % (shown, exit_codes.get(jid, 0))),
            (end, "_job_complete: JobId=%s done" % shown),
        ]
        if jid == "106":
            lines.insert(2, (end, "Time limit exhausted for JobId=106"))
        for k, (t, text) in enumerate(lines):
            rows.append((t + dt.timedelta(microseconds=k), "[%s] %s" % (ts(t), text),
                         SCHEDULER, path))
    return rows


def slurmd_rows(sja, now):
    """slurmd.log lines in the real format (see data/slurmd.log) around the jobs' ends, plus
    noise: an old error on the same node, an error at the same time on another node."""
    path = "/var/log/slurmd/slurmd.log"
    rows = []
    by_id = {j["job"]: j for j in jobs(sja)}
    j102 = job_end(now, by_id["102"])
    lines = [
        ("ccw-hpc-2", j102 - dt.timedelta(minutes=1), "Launching batch job 102 for UID 20001"),
        ("ccw-hpc-2", j102 - dt.timedelta(seconds=3),
         "[102.batch] error: Detected 1 oom_kill event in StepId=102.batch. Some of the step "
         "tasks have been OOM Killed."),
        ("ccw-hpc-2", j102, "[102.batch] done with job"),
        ("ccw-hpc-2", j102 - dt.timedelta(hours=2),
         "error: Unable to register: Unable to contact slurm controller (connect failure)"),
        ("ccw-hpc-1", j102, "error: _forkexec_slurmstepd: slurmstepd failed to send return code"),
        ("ccw-hpc-3", job_end(now, by_id["106"]),
         "[106.batch] error: *** JOB 106 ON ccw-hpc-3 CANCELLED AT 2025-09-08T21:40:00 DUE TO "
         "TIME LIMIT ***"),
    ]
    for k, (node, t, text) in enumerate(lines):
        rows.append((t + dt.timedelta(microseconds=k), "[%s] %s" % (ts(t), text), node, path))
    # a real slurmd.log (Slurm 22.05.8), on a node of its own, three hours ago
    rows += ama_rows(path, (DATA / "slurmd.log").read_text(), "ccw-hpc-4",
                     now - dt.timedelta(hours=3))
    return rows


def syslog_rows(now):
    """Debian 12 rsyslog (`2025-09-08T21:11:35.869123+00:00 host tag[pid]: msg`); ccw-hpc-3
    fell silent 2 hours ago; ccw-ubuntu-1 writes the traditional format (`Sep  8 21:11:35`)."""
    path = "/var/log/syslog"

    def rfc3339(t):
        return t.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")

    rows = []
    recent = [
        (SCHEDULER, "systemd[1]: Started slurmctld.service - Slurm controller daemon."),
        (SCHEDULER, "CRON[2211]: (root) CMD (/opt/slurm-job-archive/slurm_job_archive.py "
                    "retention)"),
        ("ccw-hpc-1", "kernel: [ 8123.456789] nvidia-nvswitch: probe of 0000:00:05.0 failed"),
        ("ccw-hpc-1", "slurm-job-archive[5021]: job 101: archived as /shared/slurm-logs/"
                      "job_101.alice.{env,err,out,sh} in 14 ms"),
        ("ccw-hpc-2", "sshd[3310]: Accepted publickey for alice from 10.1.0.4 port 50122 ssh2: "
                      "ED25519 SHA256:abc"),
        ("ccw-hpc-2", "slurmd[1402]: error: Unable to register: Zero Bytes were transmitted "
                      "or received"),
    ]
    for k, (host, msg) in enumerate(recent):
        t = now - dt.timedelta(minutes=3, seconds=k)
        rows.append((t, "%s %s %s" % (rfc3339(t), host, msg), host, path))
    t = now - dt.timedelta(hours=2)
    rows.append((t, "%s ccw-hpc-3 systemd[1]: Stopping slurmd.service - Slurm node daemon..."
                 % rfc3339(t), "ccw-hpc-3", path))
    for k, msg in enumerate(["Sep  8 21:11:35 ccw-ubuntu-1 systemd[1]: Starting Daily apt "
                             "upgrade and clean activities...",
                             "Sep  8 21:11:36 ccw-ubuntu-1 kernel: [  102.118822] EXT4-fs "
                             "(sdb1): mounted filesystem"]):
        rows.append((now - dt.timedelta(minutes=2, seconds=-k), msg, "ccw-ubuntu-1", path))
    return rows


def build(layout="flat", now=None):
    """A Workspace with the four tables filled, the archive in `layout` (flat or per-user)."""
    kql = engine()
    sja = load_archive_module()
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    con = kql.connect()
    for table in TABLES:
        con.execute('CREATE TABLE "%s" (TimeGenerated TIMESTAMP, RawData VARCHAR, '
                    "Computer VARCHAR, FilePath VARCHAR)" % table)
    raw = {"slurmjobs": slurmjobs_rows(sja, now, layout), "slurmctld": slurmctld_rows(sja, now),
           "slurmd": slurmd_rows(sja, now), "syslog": syslog_rows(now)}
    for pattern, rows in raw.items():
        con.executemany('INSERT INTO "%s_raw_CL" VALUES (?, ?, ?, ?)' % pattern, rows)
    _add_parsed_tables(con, raw)
    ws = Workspace(kql, con, now)
    ws.sja = sja
    ws.layout = layout
    return ws


_DUCKDB = {"dateTime": "TIMESTAMP", "string": "VARCHAR", "long": "BIGINT"}


def _add_parsed_tables(con, raw):
    """`<pattern>_CL` beside each `<pattern>_raw_CL`: the same lines, parsed."""
    parsers = {
        "slurmctld": lambda t, line, computer, path: parsed_rows.slurm(line, computer, path, "slurmctld", None),
        "slurmd": lambda t, line, computer, path: parsed_rows.slurm(line, computer, path, "slurmd", None),
        "syslog": lambda t, line, computer, path: parsed_rows.syslog(line, computer, path, t),
        "slurmjobs": lambda t, line, computer, path: parsed_rows.archive(line, computer, path, t),
    }
    for pattern, rows in raw.items():
        columns = parsed_rows.ARCHIVE_COLUMNS if pattern == "slurmjobs" else parsed_rows.COLUMNS
        con.execute('CREATE TABLE "%s_CL" (%s)' % (pattern, ", ".join('"%s" %s' % (n, _DUCKDB[t]) for n, t in columns)))
        parsed = [parsers[pattern](*r) for r in rows]
        con.executemany('INSERT INTO "%s_CL" VALUES (%s)' % (pattern, ", ".join("?" * len(columns))),
                        [tuple(p[n] for n, _ in columns) for p in parsed])
