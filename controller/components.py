"""config/components.yaml: which logs to collect, from which role, and the naming template."""

from __future__ import annotations

import re
from enum import Enum
from importlib import resources
from pathlib import Path, PurePosixPath

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import UserError

# Table names: letters, digits and underscores, at most 63 characters including "_raw_CL".
PATTERN_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,55}$")


class Role(str, Enum):
    SCHEDULER = "scheduler"
    NODES = "nodes"


class Group(str, Enum):
    SLURM = "slurm"
    OS = "os"
    CYCLECLOUD = "cyclecloud"


def derive_pattern(file_pattern: str) -> str:
    """The template's `{service}` from `{service}.log`: slurmd.log -> slurmd, /var/log/syslog -> syslog."""
    name = PurePosixPath(file_pattern).name
    return name[: -len(".log")] if name.endswith(".log") else name


class Component(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = ""
    group: Group
    files: tuple[str, ...] = Field(min_length=1)
    roles: frozenset[Role] = Field(min_length=1)
    description: str = ""

    @field_validator("files")
    @classmethod
    def _absolute(cls, files):
        for f in files:
            if not f.startswith("/"):
                raise ValueError(f"'{f}' is not an absolute path")
        return files

    @model_validator(mode="after")
    def _pattern(self):
        pattern = self.pattern or derive_pattern(self.files[0])
        if not PATTERN_RE.match(pattern):
            raise ValueError(
                f"pattern '{pattern}' (from {'pattern' if self.pattern else self.files[0]}) is not a valid "
                "table name: set `pattern:` to letters, digits and underscores"
            )
        object.__setattr__(self, "pattern", pattern)
        return self

    # The naming template of the reference document.
    @property
    def table(self) -> str:
        return f"{self.pattern}_raw_CL"

    @property
    def rule(self) -> str:
        return f"{self.pattern}_raw_dcr"

    @property
    def input_stream(self) -> str:
        return f"Custom-Text-{self.pattern}_raw_CL"

    @property
    def output_stream(self) -> str:
        return f"Custom-{self.table}"


class ComponentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    components: tuple[Component, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        seen = set()
        for c in self.components:
            if c.pattern.lower() in seen:
                raise ValueError(f"pattern '{c.pattern}' is used twice: each component needs its own table")
            seen.add(c.pattern.lower())
        return self


def default_config_path() -> Path:
    return Path(str(resources.files("controller") / "data" / "components.yaml"))


def load_components(path: Path | None = None) -> tuple[Component, ...]:
    path = path or default_config_path()
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise UserError(f"config {path}: cannot read it ({exc.strerror}): pass an existing file with --config") from None
    except yaml.YAMLError as exc:
        raise UserError(f"config {path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return ComponentsFile.model_validate(raw).components
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"config {path}: {where}: {first['msg']}") from None
