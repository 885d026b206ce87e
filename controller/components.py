"""config/components.yaml: which logs to collect, from which role, and the naming template.

The file is checked whole before anything reads Azure: every problem is one line naming the entry
and key (`components[3].files[0]: ...`) and the fix, all of them at once.
"""

from __future__ import annotations

import difflib
import os
import re
import reprlib
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path, PurePosixPath

import yaml

from . import azure_names as names
from .errors import UserError
from .resources import ASSOCIATION_PREFIX
from .transforms import LogFormat, transform

CONFIG_ENV_VAR = "SLURM_LOG_CONTROLLER_CONFIG"
CHECKOUT_CONFIG = Path("config") / "components.yaml"  # relative to the working directory: a checkout
SYSTEM_CONFIG = Path("/etc/slurm-log-controller/components.yaml")


class Role(str, Enum):
    SCHEDULER = "scheduler"
    LOGIN = "login"
    NODES = "nodes"


# CycleCloud's default Slurm template (Azure/cyclecloud-slurm templates/slurm.txt) has these
# nodearrays besides the compute ones (hpc, htc, gpu, dynamic): every nodearray not named is `nodes`.
DEFAULT_NODEARRAY_ROLES = {"scheduler-ha": Role.SCHEDULER, "login": Role.LOGIN}


class ArchiveLayout(str, Enum):
    """How the job archive (slurm/) names its files: SLURM_JOB_ARCHIVE_LAYOUT in /etc/default/slurm-job-archive."""

    FLAT = "flat"  # <root>/job_<id>.<user>.<kind>: collectable with a file-name wildcard
    PER_USER = "per-user"  # the reference document's <root>/<user>/job_<id>.<kind>: a wildcard in a directory

    def files(self, root: str) -> tuple[str, ...]:
        return (f"{root}/job_*",) if self is ArchiveLayout.FLAT else (f"{root}/*/*",)


class Group(str, Enum):
    SLURM = "slurm"
    OS = "os"
    CYCLECLOUD = "cyclecloud"


def derive_pattern(file_pattern: str) -> str:
    """The template's `{service}` from `{service}.log`: slurmd.log -> slurmd, /var/log/syslog -> syslog."""
    name = PurePosixPath(file_pattern).name
    return name[: -len(".log")] if name.endswith(".log") else name


def has_directory_wildcard(pattern: str) -> bool:
    return any(c in part for part in PurePosixPath(pattern).parent.parts for c in "*?[")


@dataclass(frozen=True)
class Component:
    pattern: str
    group: Group
    files: tuple[str, ...]
    roles: frozenset[Role]
    description: str = ""
    log_format: LogFormat = LogFormat.PLAIN
    process: str = ""  # the program its lines come from, where a line doesn't say: the pattern by default

    def directory_wildcards(self) -> list[str]:
        """File patterns with a wildcard before the file name: every documented AMA pattern
        wildcards the file name only, and the reference's predecessor found that "DCRs do not
        support wildcards for dirs" (yosoyjay/slurm-log-collection db457ec)."""
        return [f for f in self.files if has_directory_wildcard(f)]

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

    # Beside the raw table, the parsed one (issue 11): fed from the same input stream.
    @property
    def parsed_table(self) -> str:
        return f"{self.pattern}_CL"

    @property
    def parsed_stream(self) -> str:
        return f"Custom-{self.parsed_table}"

    @property
    def transform_kql(self) -> str:
        return transform(self.log_format, self.process or self.pattern)


@dataclass(frozen=True)
class Config:
    """The components file: what to collect, and which role each nodearray's machines have."""

    components: tuple[Component, ...]
    nodearray_roles: dict[str, Role]
    switched_off: tuple[str, ...] = ()  # patterns of the components with `enabled: false`


# ---- where the config comes from -------------------------------------------------------------


def default_config_path() -> Path:
    """The packaged config (controller/data/components.yaml, a symlink to config/components.yaml)."""
    return Path(str(resources.files("controller") / "data" / "components.yaml"))


def _not_a_file(path) -> str:
    return "is a directory" if Path(path).is_dir() else "no such file"


def find_config(given: Path | None = None) -> tuple[Path, str]:
    """The components file every command reads, and why that one: --config, then
    $SLURM_LOG_CONTROLLER_CONFIG, then ./config/components.yaml, then /etc/slurm-log-controller/,
    then the packaged default. A path the user names that doesn't exist is an error, not a fall-through."""
    if given is not None:
        if not Path(given).is_file():
            raise UserError(f"--config {given}: {_not_a_file(given)}: give the path of a components file (see README, The components file)")
        return Path(given), "given with --config"
    from_env = os.environ.get(CONFIG_ENV_VAR, "").strip()
    if from_env:
        if not Path(from_env).is_file():
            raise UserError(f"{CONFIG_ENV_VAR}={from_env}: {_not_a_file(from_env)}: point it at a components file, or unset it")
        return Path(from_env), f"from {CONFIG_ENV_VAR}; --config not given"
    not_given = f"--config and {CONFIG_ENV_VAR} not given"
    if CHECKOUT_CONFIG.is_file():
        return CHECKOUT_CONFIG.absolute(), f"found at ./{CHECKOUT_CONFIG} in the working directory; {not_given}"
    if SYSTEM_CONFIG.is_file():
        return SYSTEM_CONFIG, f"found at {SYSTEM_CONFIG}; {not_given}"
    return default_config_path(), f"the packaged default; {not_given}, no ./{CHECKOUT_CONFIG} here, no {SYSTEM_CONFIG}"


# ---- reading YAML ----------------------------------------------------------------------------


class DuplicateKey(yaml.MarkedYAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error: PyYAML would silently
    keep the last, and the user's first value would be ignored."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: SafeLoader reports it
                continue
            if first is not key_node:
                raise DuplicateKey(
                    problem=f"key {_text(key)} is given twice in one mapping (first at line {first.start_mark.line + 1}): "
                    "YAML would keep only the last; remove one",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep)


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line
    if isinstance(exc, DuplicateKey):
        return f"line {mark.line + 1}: {problem}"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"not valid YAML{where}: {problem}"


def _read(path: Path):
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"config {path}: cannot read it ({exc.strerror}): pass a readable file with --config") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"config {path}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}): save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        raise UserError(f"config {path}: {_yaml_error(exc)}") from None
    except RecursionError:
        raise UserError(f"config {path}: nested too deeply to be a components file") from None


# ---- checking it -----------------------------------------------------------------------------

COMPONENT_KEYS = {
    "pattern": "the name the table and DCR are made from",
    "group": "slurm, os or cyclecloud",
    "files": "one or more absolute file patterns",
    "archive": "the job archive's root and layout, instead of files",
    "roles": "scheduler, login and/or nodes",
    "description": "text",
    "enabled": "true (default) or false",
    "format": "how its lines are parsed into its <pattern>_CL table: " + ", ".join(f.value for f in LogFormat),
    "process": "the program its lines come from, where a line doesn't say (default: the pattern)",
}
ARCHIVE_KEYS = {"root": "the archive's folder, like /shared/slurm-logs", "layout": "flat or per-user"}
REQUIRED_KEYS = ("group", "roles")
TOP_LEVEL_KEYS = ("components", "nodearrays")
PATTERN_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # the stem of a table name (azure_names.table_name)
PROCESS_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # goes into a KQL string literal: no quotes


def _text(value) -> str:
    # reprlib: a YAML alias can make a small file a huge structure
    return names.shown(value) if isinstance(value, str) else reprlib.repr(value)


def _unknown_keys(mapping: dict, known, where: str, problems: list[str]) -> set[str]:
    """Report unknown keys; return the known keys they look like a typo of."""
    meant = set()
    for key in mapping:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(known)})"
        meant.update(close)
        problems.append(f"{where}: unknown key {_text(key)}{hint}")
    return meant


def _choices(value, enum: type[Enum], where: str, problems: list[str]):
    allowed = ", ".join(e.value for e in enum)
    if isinstance(value, str) and value in {e.value for e in enum}:
        return enum(value)
    problems.append(f"{where}: {_text(value)} is not one of {allowed}")
    return None


def _list_of(value, where: str, what: str, example: str, problems: list[str]) -> list:
    if not isinstance(value, list) or not value:
        problems.append(f"{where}: must be a list of one or more {what}, like [{example}]")
        return []
    return value


def _files(value, where: str, problems: list[str]) -> tuple[str, ...]:
    files = []
    for j, item in enumerate(_list_of(value, where, "file patterns", "/var/log/app.log", problems)):
        at = f"{where}[{j}]"
        if not isinstance(item, str):
            problems.append(f"{at}: {_text(item)} is not a file pattern: write it as text, like /var/log/app.log")
        elif names.control_character(item):
            problems.append(f"{at}: {names.plain_text(item)}")
        elif not item.startswith("/"):
            problems.append(f"{at}: '{item}' is not an absolute path: start it with /")
        elif item.endswith("/"):
            problems.append(f"{at}: '{item}' is a directory: name the files, like {item}*.log")
        elif item in files:
            problems.append(f"{at}: '{item}' is listed twice: remove one")
        else:
            files.append(item)
    return tuple(files)


def _archive(value, where: str, problems: list[str]) -> tuple[str, ...]:
    """The job archive's files, from where it is and how it names them (its layout)."""
    if not isinstance(value, dict):
        problems.append(f"{where}: must be a mapping like {{root: /shared/slurm-logs, layout: flat}}")
        return ()
    before = len(problems)
    _unknown_keys(value, ARCHIVE_KEYS, where, problems)
    root = value.get("root", "/shared/slurm-logs")
    if not isinstance(root, str) or not root.startswith("/") or names.control_character(root) or any(c in root for c in "*?["):
        problems.append(f"{where}.root: {_text(root)} is not a folder: give an absolute path without wildcards")
    layout = _choices(value.get("layout", ArchiveLayout.FLAT.value), ArchiveLayout, f"{where}.layout", problems)
    if len(problems) > before:
        return ()
    return layout.files(root.rstrip("/"))


def _pattern(entry: dict, files: tuple[str, ...], where: str, problems: list[str]) -> str | None:
    given = entry.get("pattern")
    if given is None and not files:
        return None
    if given is not None and not isinstance(given, str):
        problems.append(f"{where}.pattern: {_text(given)} is not a name: write letters, digits and '_'")
        return None
    pattern = given if given is not None else derive_pattern(files[0])
    source = "" if given is not None else f" (from {files[0]})"
    if not PATTERN_RE.fullmatch(pattern):
        fix = "set `pattern:` to a letter, then letters, digits and '_'"
        problems.append(f"{where}: pattern {names.shown(pattern)}{source} cannot name a table: {fix}")
        return None
    for problem in (
        names.table_name(f"{pattern}_raw_CL"),
        names.table_name(f"{pattern}_CL"),
        names.rule_name(f"{pattern}_raw_dcr"),
        names.association_name(f"{ASSOCIATION_PREFIX}{pattern}_raw_dcr"),
    ):
        if problem:
            problems.append(f"{where}: pattern '{pattern}'{source} does not fit Azure's names: {problem}; set a shorter `pattern:`")
            return None
    return pattern


def _component(entry, where: str, problems: list[str]) -> Component | None:
    if not isinstance(entry, dict):
        problems.append(f"{where}: {_text(entry)} is not a mapping with group, files and roles")
        return None
    before = len(problems)
    meant = _unknown_keys(entry, COMPONENT_KEYS, where, problems)
    for key in REQUIRED_KEYS:
        if key not in entry and key not in meant:
            problems.append(f"{where}: missing key '{key}' ({COMPONENT_KEYS[key]})")
    group = _choices(entry["group"], Group, f"{where}.group", problems) if "group" in entry else None
    if "files" in entry and "archive" in entry:
        problems.append(f"{where}: give either `files` (file patterns) or `archive` (the job archive), not both")
    elif not {"files", "archive"} & (set(entry) | meant):
        problems.append(f"{where}: missing key 'files' ({COMPONENT_KEYS['files']}; or `archive` for the job archive)")
    files = _files(entry["files"], f"{where}.files", problems) if "files" in entry else ()
    files = _archive(entry["archive"], f"{where}.archive", problems) if "archive" in entry else files
    roles = frozenset(
        _choices(r, Role, f"{where}.roles", problems) for r in _list_of(entry["roles"], f"{where}.roles", "roles", "scheduler, login, nodes", problems)
    ) if "roles" in entry else frozenset()
    description = entry.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where}.description: {_text(description)} is not text: quote it")
    elif names.control_character(description):
        problems.append(f"{where}.description: {names.plain_text(description)}")
    if not isinstance(entry.get("enabled", True), bool):
        problems.append(f"{where}.enabled: {_text(entry['enabled'])} is not true or false")
    default_format = LogFormat.ARCHIVE if "archive" in entry else LogFormat.PLAIN
    log_format = _choices(entry.get("format", default_format.value), LogFormat, f"{where}.format", problems)
    process = entry.get("process", "")
    if not isinstance(process, str) or not PROCESS_RE.fullmatch(process or "x"):
        problems.append(f"{where}.process: {_text(process)} is not a program name: write letters, digits, '.', '_' or '-'")
    pattern = _pattern(entry, files, where, problems)
    if len(problems) > before:
        return None
    return Component(pattern, group, files, roles, description, log_format, process)


def _nodearray_roles(value, problems: list[str]) -> dict[str, Role]:
    """`nodearrays:` as given, over CycleCloud's defaults: {name: role}."""
    if value is None:
        return dict(DEFAULT_NODEARRAY_ROLES)
    if not isinstance(value, dict):
        problems.append("nodearrays: must be a mapping of nodearray name to role, like {login: login, viz: login}")
        return {}
    roles = dict(DEFAULT_NODEARRAY_ROLES)
    for name, role in value.items():
        if not isinstance(name, str) or not name or names.control_character(name):
            problems.append(f"nodearrays: {_text(name)} is not a nodearray name")
            continue
        chosen = _choices(role, Role, f"nodearrays.{name}", problems)
        if chosen is not None:
            roles[name] = chosen
    return roles


def check_config(raw) -> tuple[Config | None, list[str]]:
    """The config of a loaded YAML document, and every problem with it."""
    problems: list[str] = []
    if raw is None:
        return None, ["is empty: it needs a `components:` list (see README, The components file)"]
    if not isinstance(raw, dict):
        return None, [f"the top level is a {type(raw).__name__}, not a mapping: start the file with `components:`"]
    meant = _unknown_keys(raw, TOP_LEVEL_KEYS, "top level", problems)
    nodearray_roles = _nodearray_roles(raw.get("nodearrays"), problems)
    entries = raw.get("components")
    if "components" in meant and entries is None:
        return None, problems
    if not isinstance(entries, list) or not entries:
        problems.append("components: must be a list of one or more entries (see README, The components file)")
        return None, problems
    components = [_component(entry, f"components[{i}]", problems) for i, entry in enumerate(entries)]
    owners: dict[str, int] = {}
    patterns: dict[str, int] = {}
    raw_tables = {c.table.lower(): i for i, c in enumerate(components) if c is not None}
    for i, c in enumerate(components):
        if c is None:
            continue
        first = patterns.setdefault(c.pattern.lower(), i)
        if first != i:
            problems.append(
                f"components[{i}]: pattern '{c.pattern}' is also components[{first}]'s: each component needs "
                "its own table; set a different `pattern:`"
            )
        if c.parsed_table.lower() in raw_tables:
            problems.append(
                f"components[{i}]: its parsed table {c.parsed_table} is components[{raw_tables[c.parsed_table.lower()]}]'s "
                "raw table: set a `pattern:` that doesn't end in _raw"
            )
        for j, f in enumerate(c.files):
            first = owners.setdefault(f, i)
            if first != i:
                problems.append(
                    f"components[{i}].files[{j}]: '{f}' is also collected by components[{first}]: its lines would "
                    "land in two tables; keep it in one component"
                )
    if problems:
        return None, problems
    enabled = [entry.get("enabled", True) for entry in entries]
    return Config(
        tuple(c for c, on in zip(components, enabled) if on),
        nodearray_roles,
        tuple(c.pattern for c, on in zip(components, enabled) if not on),
    ), problems


def load_config(path: Path | None = None) -> Config:
    """The checked config of `path`, or of the file find_config picks when None."""
    path, _ = find_config(path)
    config, problems = check_config(_read(path))
    if problems:
        raise UserError("\n".join(f"config {path}: {p}" for p in problems))
    if not config.components:
        raise UserError(f"config {path}: every component is switched off (enabled: false): switch one on")
    return config


def load_components(path: Path | None = None) -> tuple[Component, ...]:
    """The components that are switched on, of `path` or of the file find_config picks."""
    return load_config(path).components
