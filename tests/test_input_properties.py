"""Whatever a user feeds in, loading gives a valid config / settings or a clean UserError whose
every line names what is wrong: never another exception (hypothesis)."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.components import COMPONENT_KEYS, Component, check_config, load_components
from controller.errors import UserError
from controller.settings import Settings, load_settings
from tests.support import SUB

# Every example writes a file or sets the environment of this one process: the fixtures they use
# (tmp_path, the working directory) are the same for all examples, as they should be.
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

CONFIG_LINE = re.compile(r"^config .+: ")
SETTING_LINE = re.compile(r"^[A-Z][A-Z_]+(:| is not set)")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.sampled_from(["/var/log/a.log", "/var/log/b.log", "nodes", "scheduler", "os", "slurm", "a", "x" * 70]),
)
yaml_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
entries = st.dictionaries(
    st.sampled_from([*COMPONENT_KEYS, "file", "role", "colour"]),
    st.one_of(
        yaml_values,
        st.lists(st.sampled_from(["/var/log/a.log", "/var/log/b.log", "rel.log", "/var/log/", "/x\n.log"]), max_size=3),
        st.lists(st.sampled_from(["nodes", "scheduler", "login"]), max_size=3),
    ),
    max_size=6,
)
# Entries that are valid but for what hypothesis picks for pattern and description.
log_names = st.from_regex(r"[a-z][a-z0-9_]{0,40}", fullmatch=True)
good_entries = st.fixed_dictionaries(
    {
        "group": st.sampled_from(["slurm", "os", "cyclecloud"]),
        "files": st.lists(log_names.map(lambda name: f"/var/log/{name}.log"), min_size=1, max_size=3, unique=True),
        "roles": st.lists(st.sampled_from(["scheduler", "nodes"]), min_size=1, max_size=2),
    },
    optional={"pattern": st.one_of(log_names, st.text(max_size=40)), "description": st.text(max_size=60)},
)
documents = st.one_of(
    yaml_values,
    st.fixed_dictionaries({"components": st.lists(entries, max_size=4)}),
    st.fixed_dictionaries({"components": st.lists(good_entries, min_size=1, max_size=4)}),
)


def _clean(error: UserError, line_pattern: re.Pattern) -> None:
    lines = str(error).splitlines()
    assert lines, "an error with no words"
    for line in lines:
        assert line_pattern.match(line), line
        assert "Input should" not in line and "Traceback" not in line


def _load_file(path, data: bytes):
    path.write_bytes(data)
    try:
        components = load_components(path)
    except UserError as error:
        _clean(error, CONFIG_LINE)
        return None
    assert components and all(isinstance(c, Component) for c in components)
    return components


@EXAMPLES
@given(documents)
def test_any_yaml_document(tmp_path, document):
    _load_file(tmp_path / "c.yaml", yaml.safe_dump(document, allow_unicode=True).encode())


@EXAMPLES
@given(documents)
def test_any_loaded_structure(document):
    config, problems = check_config(document)
    assert bool(problems) != bool(config)
    for c in config.components if config else ():
        assert c.pattern and c.files and c.roles


@EXAMPLES
@given(st.text())
def test_any_text(tmp_path, text):
    _load_file(tmp_path / "c.yaml", text.encode("utf-8", "surrogatepass"))


@EXAMPLES
@given(st.binary())
def test_any_bytes(tmp_path, data):
    _load_file(tmp_path / "c.yaml", data)


# Environment values: any text the environment can hold (no NUL, no lone surrogates), plus values
# near the valid ones so that the checks past parsing run too.
env_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
near_valid = st.sampled_from([
    SUB, SUB.upper(), "slurm-rg", "logs", "Basic", "Analytics", "sync", "30", "4383", "0", "1e3", "nan", "-1",
    "https://127.0.0.1:8443", "0.0.0.0", "::", "true",
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm",
    f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss,",
])
environments = st.dictionaries(st.sampled_from(sorted(Settings.model_fields)), st.one_of(env_text, near_valid))


@contextmanager
def _environment(values: dict[str, str]):
    names = [name.upper() for name in Settings.model_fields]
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    os.environ.update({name.upper(): value for name, value in values.items()})
    try:
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(saved)


@pytest.fixture
def no_dot_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@EXAMPLES
@given(environments)
def test_any_environment(no_dot_env, values):
    with _environment(values):
        try:
            loaded = load_settings()
        except UserError as error:
            _clean(error, SETTING_LINE)
            return
        # What the commands derive from valid settings works too.
        assert all(isinstance(v, list) for v in (loaded.discovery_resource_groups, loaded.compute_vmss_ids))
        assert loaded.resource_manager.startswith("https://") and loaded.workspace_id.startswith("/subscriptions/")
        try:
            loaded.require_cluster_identity()
        except UserError as error:
            _clean(error, SETTING_LINE)
