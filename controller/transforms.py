"""The parsed tables `<pattern>_CL`: their columns, and the transform each log format gets.

Every component's DCR has a second data flow from the same input stream into its parsed table,
with a `transformKql` written for the component's log format (`controller/data/transforms/
<format>.kql`). Each transform starts with `let Daemon = "<process>";`, the program the
component's lines come from, so one file serves slurmctld, slurmd, slurmdbd and slurmrestd.
Transforms use only what Azure documents for them (per-record operators, the listed functions;
azure-facts.md "DCR transformations") and keep every line: one that doesn't match its format
lands with Message = the line and TimeGenerated = its ingestion time.
"""

from __future__ import annotations

from enum import Enum
from functools import cache
from importlib import resources

# The contract other tools build on (`union *_CL | where JobId == 123`): same names, same types.
PARSED_COLUMNS = (
    ("TimeGenerated", "dateTime"),
    ("Computer", "string"),
    ("FilePath", "string"),
    ("Level", "string"),
    ("Process", "string"),
    ("JobId", "long"),
    ("StepId", "string"),
    ("Message", "string"),
)
# An array task's ids where a line names them (slurmctld's JobId=8_1(11); the archive's job_8_1.*).
ARRAY_COLUMNS = (("ArrayJobId", "long"), ("ArrayTaskId", "long"))
SLURM_COLUMNS = PARSED_COLUMNS + ARRAY_COLUMNS
# The kernel's stamp is seconds since boot, not a time of day.
DMESG_COLUMNS = PARSED_COLUMNS + (("BootSeconds", "real"),)
# The job archive's table adds who ran the job and which of its files a line is from.
ARCHIVE_COLUMNS = PARSED_COLUMNS + (("User", "string"), ("FileKind", "string")) + ARRAY_COLUMNS


class LogFormat(str, Enum):
    SLURM = "slurm"  # slurmctld, slurmd (and slurmstepd), slurmdbd, slurmrestd
    SYSLOG = "syslog"
    DMESG = "dmesg"
    JETPACK = "jetpack"  # CycleCloud's jetpack and jetpackd (Python logging)
    HEALTHAGENT = "healthagent"
    ARCHIVE = "archive"  # the job archive's files (slurm/)
    PLAIN = "plain"  # no known format: the line is the message

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        return {LogFormat.ARCHIVE: ARCHIVE_COLUMNS, LogFormat.SLURM: SLURM_COLUMNS, LogFormat.DMESG: DMESG_COLUMNS}.get(self, PARSED_COLUMNS)

    @property
    def file(self) -> str:
        """Its transform's file: jetpack and the health agent both write Python logging's lines."""
        return "python-logging" if self in (LogFormat.JETPACK, LogFormat.HEALTHAGENT) else self.value

    @property
    def record_start(self) -> str | None:
        """`recordStartTimestampFormat` of the DCR's file source: a record starts at a line that
        begins with such a timestamp, so a traceback joins the line that logged it. Only for
        formats whose timestamp is certainly one of Azure's listed formats: Slurm's
        `[2025-09-08T21:11:35.869]` starts with a bracket, and if the agent doesn't take it as
        ISO 8601 every line would join one record; one line, one record is safe."""
        return MULTILINE.get(self)


MULTILINE = {LogFormat.JETPACK: "YYYY-MM-DD HH:MM:SS", LogFormat.HEALTHAGENT: "YYYY-MM-DD HH:MM:SS"}


@cache
def _text(log_format: LogFormat) -> str:
    return (resources.files("controller") / "data" / "transforms" / f"{log_format.file}.kql").read_text()


def transform(log_format: LogFormat, process: str) -> str:
    """The `transformKql` of a component's parsed data flow."""
    return f'let Daemon = "{process}";\n{_text(log_format)}'
